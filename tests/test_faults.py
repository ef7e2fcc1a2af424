"""The fault suite: kills, concurrent use, damaged indexes, hostile seeds and hostile questions.

Counts of what is tried are printed at the end of the session (see conftest's summary hook) and
quoted in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import random
import re
import select
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes import FakeEncoder
from rag import Retriever, build_index
from rag.index import store
from rag.errors import IndexLockedError, QuestionError, RagError


def _readable(fd: int, timeout: float) -> bool:
    """Whether ``fd`` has something to read (or its other end closed) within ``timeout`` seconds; poll(),
    not select(), which refuses descriptors numbered 1024 and above (a long test run opens many)."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(timeout * 1000))


HERE = Path(__file__).resolve().parent
CRASH = HERE / "crash_build.py"
COUNTS: dict[str, int] = {}


def count(key: str, n: int = 1) -> None:
    COUNTS[key] = COUNTS.get(key, 0) + n


def add_docs(seeds: Path, n: int, tag: str = "gen") -> None:
    for i in range(n):
        (seeds / f"{tag}{i:04d}.txt").write_text(
            f"Document {tag} {i} is about topic{i % 7}.\n\nSecond paragraph of {tag} {i}.\n", encoding="utf-8"
        )


# --------------------------------------------------------------------------- kills


@pytest.mark.slow
def test_sigkill_at_any_step_never_loses_the_index(seeds, tmp_path):
    """24 builds, each killed with SIGKILL at a different point of its durable steps (embedding,
    writing each file, publishing, switching, cleaning up: tests/kill_steps.py), spread over the
    whole build: the index is always the old one or the complete new one, and the next build completes.
    The points are drawn from a seeded generator and land where they are drawn, at any machine speed."""
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    rng = random.Random(20261124)
    rounds = 24
    outcomes, landed = set(), set()
    expected_before = 6
    for round_ in range(rounds):
        add_docs(seeds, 40, tag=f"r{round_}x")
        expected_after = expected_before + 80
        fraction = (round_ + rng.random()) / rounds  # one draw in each 24th of the build
        p = subprocess.run([sys.executable, str(CRASH), str(seeds), str(idx), "step", str(fraction)],
                           capture_output=True, text=True, timeout=120)
        kill = [line for line in p.stderr.splitlines() if line.startswith("KILL step ")]
        assert p.returncode == -9 and len(kill) == 1, (round_, p.returncode, p.stderr[-1000:])
        count("kills")
        landed.add(kill[0].split()[3])
        r = Retriever.open(idx, encoder=FakeEncoder())
        n = len(r.passages)
        assert n in (expected_before, expected_after), (round_, kill, n)
        outcomes.add(n == expected_after)
        query, source = ("topic3", "r") if n > 6 else ("harbour ships", "notes/ships.md")
        assert r.search(query, k=1, mode="bm25")[0].source.startswith(source)
        # the next build completes and leaves no temporary folder behind
        stats = build_index(seeds, idx, encoder=FakeEncoder())
        assert stats.passages == expected_after
        assert not [q for q in idx.iterdir() if q.name.startswith((".tmp-", "CURRENT."))]
        expected_before = expected_after
    assert outcomes == {False, True}  # killed before the switch (old index) and after it (new one)
    assert {"embedding", "calibrating", "fsync"} <= landed, landed  # while embedding, calibrating and writing


@pytest.mark.e2e
def test_real_cli_build_killed_keeps_the_old_index(tmp_path, real_index):
    """`rag index` with the real model, killed while reading and twice while embedding: the old index
    still answers after each kill, and the next build embeds every new passage.

    The kills are placed by the build's own progress output (the CLI runs on a pseudo-terminal, so
    its progress bar is on), not by sleeping: on a fast machine a sleep lets the build finish first.
    """
    work = tmp_path / "w"
    shutil.copytree(real_index.parent.parent, work, symlinks=True)
    question = "How many participants and observers are expected in Sochi?"
    before = _ask_json(work, question)
    add_docs(work / "seeds", 300)  # 600 new passages: the encoder reports progress every 256
    kill_points = [
        ("reading", lambda done, total: True),
        ("embedding", lambda done, total: 0 < done < total),
        ("embedding", lambda done, total: 256 < done < total),
    ]
    for stage, when in kill_points:
        code, seen = _run_cli_until(work, ["index"], stage, when)
        assert code == -9, f"the build finished before the kill at {stage}: {seen[-300:]!r}"
        count("kills")
        got = _ask_json(work, question)
        assert got["hits"][0]["line_start"] == 49 == before["hits"][0]["line_start"]
        assert got["hits"][0]["source"] == before["hits"][0]["source"]
    p = subprocess.run([sys.executable, "-m", "rag", "index", "--json"], cwd=work, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["embedded"] == 600
    assert not [q for q in (work / "indexes" / "default").iterdir() if q.name.startswith(".tmp-")]


_PROGRESS = re.compile(rb"(reading|embedding|writing)\s+\[[#.]*\] (\d+)/(\d+)")


def _run_cli_until(cwd: Path, args: list[str], stage: str, when, timeout: float = 300.0) -> tuple[int, bytes]:
    """Run `rag ARGS` with stderr on a pseudo-terminal; SIGKILL it at the first progress line of
    STAGE for which ``when(done, total)`` holds. Returns (exit code, everything it printed)."""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "rag", *args], cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready = _readable(master, 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk:
                    break
                seen += chunk
                if any(s.decode() == stage and when(int(d), int(t)) for s, d, t in _PROGRESS.findall(seen)):
                    proc.kill()
                    break
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            pytest.fail(f"`rag {' '.join(args)}` never reached {stage}: {seen[-300:]!r}")
        return proc.wait(timeout=60), seen
    finally:
        os.close(master)


def _ask_json(cwd: Path, q: str) -> dict:
    p = subprocess.run([sys.executable, "-m", "rag", "ask", q, "--json"], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


# --------------------------------------------------------------------------- concurrency


@pytest.mark.slow
def test_queries_during_repeated_rebuilds_never_fail(seeds, tmp_path):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    enc = FakeEncoder()
    r = Retriever.open(idx, encoder=enc)
    stop = threading.Event()
    failures: list[str] = []
    served = [0]
    sizes: list[int] = []

    def ask_loop():
        nonlocal r
        while not stop.is_set():
            try:
                r = r.refreshed()
                hits = r.search("topic3 document", k=3)
                assert hits and all(h.text == r.passages[h.row].text for h in hits)
                served[0] += 1
                sizes.append(len(r.passages))
            except Exception as exc:  # noqa: BLE001 - any failure counts
                failures.append(repr(exc))

    t = threading.Thread(target=ask_loop)
    t.start()
    try:
        for round_ in range(5):
            add_docs(seeds, 50, tag=f"c{round_}x")
            before = served[0]
            p = subprocess.run([sys.executable, str(CRASH), str(seeds), str(idx), "none"],
                               capture_output=True, text=True, timeout=120)
            assert p.returncode == 0, p.stderr
            count("rebuilds_under_load")
            deadline = time.monotonic() + 60  # each round is searched, however slow the machine
            while served[0] <= before and not failures and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        stop.set()
        t.join()
    count("queries_during_rebuilds", served[0])
    assert failures == []
    assert served[0] >= 5
    # every answer came from a complete index: its size was one of the published sizes
    assert set(sizes) <= {6 + 100 * i for i in range(6)}
    assert len(r.refreshed().passages) == 6 + 500  # the newest passages are visible


@pytest.mark.slow
def test_two_builds_at_once_one_stops_clearly(seeds, tmp_path):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    add_docs(seeds, 200)
    # The first build holds its lock until this test releases it (no race with a clock).
    slow = subprocess.Popen([sys.executable, str(CRASH), str(seeds), str(idx), "hold"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        lock = idx / ".lock"
        while time.time() < deadline and not (lock.exists() and lock.read_text().strip() == str(slow.pid)):
            time.sleep(0.02)
        assert lock.read_text().strip() == str(slow.pid), "the first build never took the lock"
        p = subprocess.run([sys.executable, "-m", "rag", "index", "--seeds", str(seeds), "--index", str(idx)],
                           capture_output=True, text=True, timeout=120)
        count("concurrent_builds")
        assert p.returncode == 1
        assert "another build is updating" in p.stderr and len(p.stderr.strip().splitlines()) == 1
        with pytest.raises(IndexLockedError):
            build_index(seeds, idx, encoder=FakeEncoder())
        assert slow.poll() is None  # the first build was still running all along
    finally:
        Path(str(idx) + ".release").touch()
        out, err = slow.communicate(timeout=120)
    assert slow.returncode == 0, err
    assert len(Retriever.open(idx, encoder=FakeEncoder()).passages) == 6 + 400


# --------------------------------------------------------------------------- damaged index (CLI)


def _damages():
    def manifest_edit(fn):
        def go(v: Path):
            m = json.loads((v / "manifest.json").read_text(encoding="utf-8"))
            fn(m)
            (v / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
        return go

    def newer(m):
        m["format_version"] = 99

    def other_model(m):
        m["meta"]["model"]["weights_sha256"] = "0" * 64
        m["meta"]["model"]["stamp"] = None

    def seg(v: Path) -> Path:  # the version's first segment folder (the layout of rag.index.local)
        m = json.loads((v / "manifest.json").read_text(encoding="utf-8"))
        return v.parent / "segments" / m["segments"][0]["id"]

    return {
        "manifest-invalid-json": lambda v: (v / "manifest.json").write_text("{", encoding="utf-8"),
        "payloads-missing": lambda v: (seg(v) / "payloads.jsonl").unlink(),
        "payloads-extra": lambda v: (seg(v) / "payloads.jsonl").write_text(
            (seg(v) / "payloads.jsonl").read_text(encoding="utf-8")
            + (seg(v) / "payloads.jsonl").read_text(encoding="utf-8").splitlines()[0] + "\n",
            encoding="utf-8"),
        "postings-deleted": lambda v: (seg(v) / "post_rows.npy").unlink(),
        "terms-zeroed": lambda v: (seg(v) / "terms.json").write_bytes(b"\0" * (seg(v) / "terms.json").stat().st_size),
        "segment-deleted": lambda v: shutil.rmtree(seg(v)),
        "vectors-truncated": lambda v: (seg(v) / "vectors.npy").write_bytes((seg(v) / "vectors.npy").read_bytes()[:200]),
        "vectors-zeroed": lambda v: (seg(v) / "vectors.npy").write_bytes(b"\0" * (seg(v) / "vectors.npy").stat().st_size),
        "newer-format": manifest_edit(newer),
        "other-model": manifest_edit(other_model),
    }


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(_damages()))
def test_damaged_index_is_one_line_in_the_cli(tmp_path, real_index, name):
    work = tmp_path / "w"
    shutil.copytree(real_index.parent.parent, work, symlinks=True)
    idx = work / "indexes" / "default"
    _damages()[name](store.current_version(idx))
    count("damaged_indexes")
    p = subprocess.run([sys.executable, "-m", "rag", "ask", "Sochi"], cwd=work, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    assert "rag index --rebuild" in p.stderr


# --------------------------------------------------------------------------- hostile seeds


@pytest.mark.slow
def test_hostile_seeds_folder(tmp_path):
    # The fake encoder, for 20,000 files; test_real_builds.py runs a hostile set through the real model.
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    good: dict[str, str] = {
        "plain.txt": "Alpha paragraph one.\n\nAlpha paragraph two.\n",
        "with spaces and ünïcödé ✓.md": "Unicode name file.\n",
        "line\nbreak.txt": "A file whose name has a newline.\n",
        "utf16.txt": "Sixteen bit text here.\n",
        "latin1.txt": "Caf\u00e9 au lait.\n",
    }
    for name, text in good.items():
        if name == "utf16.txt":
            (seeds / name).write_bytes(text.encode("utf-16"))
        elif name == "latin1.txt":
            (seeds / name).write_bytes(text.encode("cp1252"))
        else:
            (seeds / name).write_text(text, encoding="utf-8")
    (seeds / "binary.txt").write_bytes(bytes(range(256)) * 10)
    (seeds / "zero.txt").write_bytes(b"")
    (seeds / "huge-line.txt").write_bytes(b"x" * (50 * 1024 * 1024))
    long_para = " ".join(f"word{i}" + ("." if i % 15 == 14 else "") for i in range(30_000))  # ~200k chars
    (seeds / "long-paragraph.txt").write_text(long_para + "\n", encoding="utf-8")
    deep = seeds
    for i in range(60):
        deep = deep / f"d{i}"
    deep.mkdir(parents=True)
    (deep / "deep.txt").write_text("Deep down here.\n", encoding="utf-8")
    tiny = seeds / "tiny"
    tiny.mkdir()
    for i in range(20_000):
        (tiny / f"t{i:05d}.txt").write_text(f"tiny{i}\n", encoding="utf-8")
    (seeds / "loop").symlink_to(seeds, target_is_directory=True)
    (seeds / "outside.txt").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "secret.txt").write_text("outside the seeds\n", encoding="utf-8")
    os.mkfifo(seeds / "pipe.txt")
    (seeds / "vanishing.txt").write_text("I will be gone.\n", encoding="utf-8")

    import rag.indexing.reading as build_mod  # where the build reads each file

    real_read = build_mod.read_seed

    def read_and_vanish(f, max_bytes):
        if f.source == "vanishing.txt":
            f.path.unlink()
        return real_read(f, max_bytes=max_bytes)

    build_mod.read_seed = read_and_vanish
    try:
        import resource

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        stats = build_index(seeds, tmp_path / "idx", encoder=FakeEncoder())
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    finally:
        build_mod.read_seed = real_read
    count("hostile_seed_files", 20_000 + 13)
    reasons = {s.source: s.reason for s in stats.skipped}
    assert "binary" in reasons["binary.txt"]
    assert "empty" in reasons["zero.txt"]
    assert "limit" in reasons["huge-line.txt"]
    assert "outside" in reasons["outside.txt"]
    assert "regular file" in reasons["pipe.txt"]
    assert "vanished" in reasons["vanishing.txt"]
    assert grown_mb < 1500, grown_mb  # bounded: the 50 MB file was never read whole
    r = Retriever.open(tmp_path / "idx", encoder=FakeEncoder())
    sources = {p.source for p in r.passages}
    assert set(good) <= sources
    assert "d0/" + "/".join(f"d{i}" for i in range(1, 60)) + "/deep.txt" in sources
    assert sum(1 for s in sources if s.startswith("tiny/")) == 20_000
    assert not any(s.startswith("loop/") for s in sources)  # the loop was not followed
    assert sum(1 for p in r.passages if p.source == "long-paragraph.txt") > 10
    for p in r.passages:  # every passage cites its lines exactly
        if p.source.startswith("tiny/"):
            continue
        lines = (seeds / p.source).read_bytes()
        from rag.documents.decoding import decode, normalize_newlines

        text = normalize_newlines(decode(lines)[0])
        assert text[p.char_start : p.char_end] == p.text
        cited = "\n".join(text.split("\n")[p.line_start - 1 : p.line_end])
        assert p.text in cited


# --------------------------------------------------------------------------- hostile questions

HOSTILE = [
    "",
    "   \t\n ",
    "x" * 100_000,
    "what \x00 is \x1b[31m this \x07",
    "the and of to is",
    "ما هو عدد المشاركين في سوتشي؟",
    "索契会议有多少参与者？",
    "🕊️🇷🇺🤝🇸🇾",
    "[bold]Sochi[/] [link=http://x]talks[/link] %s %d {}",
    "?",
]


@pytest.mark.parametrize("q", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_questions_api(seeds, tmp_path, q):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    r = Retriever.open(idx, encoder=FakeEncoder())
    count("hostile_questions")
    for mode in ("hybrid", "dense", "bm25"):
        try:
            hits = r.search(q, k=3, mode=mode)
        except QuestionError as exc:
            assert "\n" not in str(exc) and not q.strip()
            continue
        assert len(hits) <= 3
        for h in hits:
            assert h.text == r.passages[h.row].text and h.answer.text in h.text


@pytest.mark.e2e
@pytest.mark.parametrize("q", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_questions_cli(real_index, q):
    work = real_index.parent.parent
    q = q.replace("\x00", "\x01")  # argv cannot carry NUL; the API test covers it
    p = subprocess.run([sys.executable, "-m", "rag", "ask", q, "--json"], cwd=work, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in p.stderr
    if q.strip():
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        assert len(out["hits"]) <= 5
    else:
        assert p.returncode == 1 and "empty" in p.stderr and p.stderr.count("\n") == 1


# The documented rule of `rag ask` (see `rag ask --help`), written out again here rather than
# imported, so that the test checks the CLI against the documentation.
OPTION_LIKE = re.compile(r"--?[A-Za-z][A-Za-z0-9_-]*(=.*)?", re.ASCII | re.DOTALL)


@pytest.mark.e2e
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.one_of(
    st.text(min_size=1, max_size=300),
    st.from_regex(r"\A--?[A-Za-z][A-Za-z0-9_-]{0,8}(=[a-z0-9 ]{0,5})?\Z"),  # option-looking words
    st.sampled_from(["--seeds", "--index", "-k", "--mode", "--json", "--jsn", "-k=2", "--", "-5 degrees", "-"]),
))
def test_ask_json_always_parses(real_index, q):
    """For any question word, `rag ask WORD --json -k 3` keeps the documented contract: exit 0 with
    one JSON object; exit 1 with one line for an empty question; exit 2 with one line when the word
    looks like an option (a known option then lacks its question or value, an unknown one is an error)."""
    from rag.cli import main
    from rag.search.verdict import VERDICT_TEXT

    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(real_index.parent.parent)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(["ask", q, "--json", "-k", "3"])
    finally:
        os.chdir(cwd)
    count("fuzzed_questions")
    if q in ("-h", "--help"):
        assert rc == 0 and out.getvalue().startswith("usage: rag ask")
    elif q == "--":  # ends the options: "--json -k 3" is the question, answered as text (no --json)
        text = out.getvalue()  # the verdict with its confidence first, then the ranked passages
        assert rc == 0 and text.split(" · confidence ")[0] in VERDICT_TEXT.values() and "\n\n1. " in text
    elif OPTION_LIKE.fullmatch(q):
        assert rc == 2 and err.getvalue().count("\n") == 1 and err.getvalue().startswith("rag ask: "), err.getvalue()
        assert out.getvalue() == ""
    elif rc == 0:
        obj = json.loads(out.getvalue())
        assert obj["question"] == q and len(obj["hits"]) <= 3
    else:
        assert rc == 1 and err.getvalue().count("\n") == 1 and "empty" in err.getvalue()
        assert not any(c.isprintable() and not c.isspace() for c in q)
