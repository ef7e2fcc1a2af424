"""Documents are read only from inside the seeds folder, even while the folder changes under the
server: a file swapped between a regular file and a link to a secret outside (the attack of issue
23) never leaks the secret, over HTTP (its lines, or its original file) or MCP; links that stay
inside still work."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from live_server import serving
from rag import build_index
from rag.service.documents import DocumentNotFound, DocumentPathError, read_lines
from rag.service.http import create_app
from rag.service.state import IndexService

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform.startswith("win"), reason="POSIX links")

SECRET = "TOP SECRET root:x:0:0"
# RAG_RACE_SECONDS=40 runs the race longer (issue 23's figure: 0 leaks in 10,000 requests; `-s` prints the count)
SWAP_SECONDS = float(os.environ.get("RAG_RACE_SECONDS", "3"))
MIN_SWAPS = 2000

# Run as its own process: replaces seeds/race.txt by a regular file, then by a link to the secret,
# as fast as it can; each is prepared beside it and renamed over it (atomic, as `mv -T`).
SWAPPER = """
import os, sys, time
target, secret, work, seconds, min_swaps = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
original, regular, link = (os.path.join(work, n) for n in ("original", "regular", "link"))
with open(original, "w") as f:
    f.write("harmless line\\n")
print("swapping", flush=True)
start = time.monotonic()
n = 0
# for the time given and at least MIN_SWAPS swaps (a loaded machine may give this process little
# time), but never more than a minute beyond the time given
while (time.monotonic() - start < seconds or n < min_swaps) and time.monotonic() - start < seconds + 60:
    os.link(original, regular)
    os.replace(regular, target)
    os.symlink(secret, link)
    os.replace(link, target)
    n += 1
print(n, flush=True)
"""


@pytest.fixture
def race(seeds: Path, tmp_path: Path, fake_encoder):
    """The service over ``seeds`` with ``race.txt`` indexed, and a secret outside the folder."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n", encoding="utf-8")
    (seeds / "race.txt").write_text("harmless line\n", encoding="utf-8")
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    work = tmp_path / "swap"  # same file system as seeds/: os.replace is a rename
    work.mkdir()
    return IndexService(idx, seeds, encoder=fake_encoder, retry_delay=0.0), seeds, outside / "secret.txt", work


def start_swapper(seeds: Path, secret: Path, work: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", SWAPPER, str(seeds / "race.txt"), str(secret), str(work),
                             str(SWAP_SECONDS), str(MIN_SWAPS)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "swapping"
    return proc


def swaps_done(swapper: subprocess.Popen) -> int:
    out, _ = swapper.communicate(timeout=90)
    return int(out.strip())


@pytest.mark.parametrize("path", ["/documents/race.txt", "/files/race.txt"])
def test_symlink_swap_never_leaks_over_http(race, path):
    """``GET /documents/...`` (the lines) and ``GET /files/...`` (the original bytes, issue 25) each
    open the file once, links refused at the moment of opening."""
    service, seeds, secret, work = race
    outcomes: list[tuple[int, bytes]] = []
    with serving(create_app(service, allowed_hosts=["127.0.0.1"])) as url:
        swapper = start_swapper(seeds, secret, work)

        def client():
            with httpx.Client(base_url=url, timeout=10) as c:
                while swapper.poll() is None:
                    r = c.get(path)
                    outcomes.append((r.status_code, r.content))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        swaps = swaps_done(swapper)
    leaks = [body for _, body in outcomes if b"SECRET" in body]
    statuses = {status for status, _ in outcomes}
    print(f"{path}: {swaps} swaps, {len(outcomes)} responses, {len(leaks)} leaks, statuses {sorted(statuses)}")
    assert swaps >= MIN_SWAPS and len(outcomes) > 100
    assert not leaks, f"{len(leaks)} of {len(outcomes)} responses leaked the file outside the seeds folder"
    # the race was run: the file was read as a file, and refused as a link leading outside
    assert 200 in statuses and 400 in statuses, statuses
    assert statuses <= {200, 400, 404}, statuses  # 404: between a rename and the next
    if path.startswith("/files/"):
        assert {body for status, body in outcomes if status == 200} == {b"harmless line\n"}


def test_symlink_swap_never_leaks_to_the_library(race):
    """The most reads in the time (no HTTP in between): the issue's target is 0 in 10,000."""
    _, seeds, secret, work = race
    swapper = start_swapper(seeds, secret, work)
    reads, refused, leaks = 0, 0, 0
    while swapper.poll() is None:
        try:
            leaks += "SECRET" in "\n".join(read_lines(seeds, "race.txt").lines)
            reads += 1
        except DocumentPathError as exc:
            assert "leads outside the seeds folder" in str(exc)
            refused += 1
    assert swaps_done(swapper) >= MIN_SWAPS
    assert reads + refused > 1000 and reads and refused
    assert leaks == 0, f"{leaks} of {reads} reads leaked the file outside the seeds folder"


def test_symlink_swap_never_leaks_over_mcp(race):
    from mcp import Client

    from rag.service.mcp_server import build_mcp

    service, seeds, secret, work = race
    swapper = start_swapper(seeds, secret, work)

    async def go():
        texts, errors = [], 0
        async with Client(build_mcp(service)) as c:
            while swapper.poll() is None:
                res = await c.call_tool("get", {"source": "race.txt"})
                if res.is_error:
                    errors += 1
                    texts.append(res.content[0].text)
                else:
                    texts.append(res.structured_content["text"])
        return texts, errors

    texts, errors = asyncio.run(go())
    assert swaps_done(swapper) >= MIN_SWAPS
    assert len(texts) > 50
    assert not [t for t in texts if "SECRET" in t]
    assert 0 < errors < len(texts)


def test_links_inside_the_folder_are_followed(seeds):
    (seeds / "deep").mkdir()
    (seeds / "deep" / "real.txt").write_text("one\ntwo\n", encoding="utf-8")
    os.symlink("deep/real.txt", seeds / "relative.txt")
    os.symlink(seeds / "deep" / "real.txt", seeds / "absolute.txt")  # absolute, to a file inside
    os.symlink("relative.txt", seeds / "chain.txt")  # a link to a link
    os.symlink("deep", seeds / "folder")  # a link to a folder, in the middle of a path
    os.symlink("../cats.txt", seeds / "deep" / "up.txt")  # '..' that stays inside
    for source in ("relative.txt", "absolute.txt", "chain.txt", "folder/real.txt"):
        assert read_lines(seeds, source).lines[:2] == ["one", "two"], source
    assert read_lines(seeds, "deep/up.txt").lines[0] == "All about cats."


def test_links_out_of_the_folder_are_refused(seeds, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x.txt").write_text(SECRET + "\n", encoding="utf-8")
    os.symlink(secret, seeds / "abs.txt")
    os.symlink("../secret.txt", seeds / "rel.txt")
    os.symlink("notes/../../secret.txt", seeds / "through.txt")
    os.symlink(tmp_path / "out", seeds / "outdir")  # a folder link in the middle of the path
    os.symlink("abs.txt", seeds / "chain.txt")  # a link to a link that leads out
    os.symlink(str(seeds) + "/../secret.txt", seeds / "prefix.txt")  # names the folder, then leaves it
    for source in ("abs.txt", "rel.txt", "through.txt", "outdir/x.txt", "chain.txt", "prefix.txt"):
        with pytest.raises(DocumentPathError, match="leads outside the seeds folder"):
            read_lines(seeds, source)


def test_what_is_not_a_readable_file_is_refused_at_once(seeds):
    os.symlink("loop-b.txt", seeds / "loop-a.txt")
    os.symlink("loop-a.txt", seeds / "loop-b.txt")
    os.symlink("nowhere.txt", seeds / "dangling.txt")
    os.mkfifo(seeds / "pipe.txt")  # opening it for reading must not wait for a writer
    (seeds / "plain.txt").write_text("x\n", encoding="utf-8")
    t0 = time.monotonic()
    with pytest.raises(DocumentPathError, match="cannot be read"):
        read_lines(seeds, "loop-a.txt")
    with pytest.raises(DocumentNotFound):
        read_lines(seeds, "dangling.txt")
    with pytest.raises(DocumentNotFound, match="not a file"):
        read_lines(seeds, "pipe.txt")
    with pytest.raises(DocumentNotFound, match="not a file"):
        read_lines(seeds, "notes")
    with pytest.raises(DocumentNotFound):
        read_lines(seeds, "plain.txt/more.txt")  # a file named as a folder
    assert time.monotonic() - t0 < 5


def test_a_pdf_is_parsed_from_the_handle_that_was_checked(seeds):
    """A binary format goes to its parser (a worker process) as the bytes read from the handle."""
    from pdfs import paper

    (seeds / "paper.pdf").write_bytes(paper([[["The lighthouse keeper rows out at dawn."]],
                                             [["Gulls follow the boat home."]]]))
    os.symlink("paper.pdf", seeds / "alias.pdf")
    assert "Gulls follow the boat home." in read_lines(seeds, "alias.pdf", page=2).lines
    with pytest.raises(DocumentPathError, match="paper.pdf has 2 pages: give a page from 1 to 2"):
        read_lines(seeds, "paper.pdf")
    with pytest.raises(DocumentPathError, match="give a page from 1 to 2, not 3"):
        read_lines(seeds, "paper.pdf", page=3)
