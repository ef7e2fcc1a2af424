"""``GET /files/{source}``: a cited document's original file (issue 25, "open the original"), opened
as ``/documents`` opens it (inside the seeds folder, links out refused), under the same read slots,
and never active content of the server's origin: a sandbox CSP, ``nosniff``, PDF and plain text
shown, every other format (HTML first) sent as ``application/octet-stream`` to be saved."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from live_server import serving
from rag import build_index
from rag.documents.decoding import MAX_FILE_BYTES
from rag.service import documents as documents_module
from rag.service.document_reads import DocumentLimits, DocumentReads, DocumentsBusy
from rag.service.http import create_app
from rag.service.state import IndexService

HOSTILE_HTML = b"<!doctype html><script>alert(document.cookie)</script><img src=x onerror=alert(1)>"


@pytest.fixture
def service(seeds: Path, tmp_path: Path, fake_encoder) -> IndexService:
    build_index(seeds, tmp_path / "idx", encoder=fake_encoder)
    return IndexService(tmp_path / "idx", seeds, encoder=fake_encoder, retry_delay=0.0)


def client(app, **kw):
    from starlette.testclient import TestClient

    return TestClient(app, raise_server_exceptions=False, **kw)


def assert_never_active(r: httpx.Response) -> None:
    csp = [p.strip() for p in r.headers["content-security-policy"].split(";")]
    assert "sandbox" in csp and "default-src 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert "html" not in r.headers["content-type"] and "xml" not in r.headers["content-type"]


def test_a_pdf_is_its_bytes_shown_as_a_pdf(service, seeds):
    from pdfs import paper

    data = paper([[["The lighthouse keeper rows out at dawn."]], [["Gulls follow the boat home."]]])
    (seeds / "paper.pdf").write_bytes(data)
    with client(create_app(service)) as c:
        r = c.get("/files/paper.pdf")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["content-disposition"].startswith("inline;")
    assert_never_active(r)


@pytest.mark.parametrize("name", ["cats.txt", "notes/ships.md"])
def test_text_and_markdown_are_plain_text(service, seeds, name):
    with client(create_app(service)) as c:
        r = c.get(f"/files/{name}")
    assert r.status_code == 200
    assert r.content == (seeds / name).read_bytes()
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["content-disposition"].startswith("inline;")
    assert_never_active(r)


@pytest.mark.parametrize("name", ["page.html", "page.HTM", "report.docx"])
def test_html_and_every_other_format_is_a_download_never_a_page(service, seeds, name):
    (seeds / name).write_bytes(HOSTILE_HTML)
    with client(create_app(service)) as c:
        r = c.get(f"/files/{name}")
    assert r.status_code == 200
    assert r.content == HOSTILE_HTML
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert_never_active(r)


def test_the_file_name_in_the_header_cannot_add_a_header(service, seeds):
    name = 'r\u00e9 "q";x=1.md'
    (seeds / name).write_text("hello\n", encoding="utf-8")
    with client(create_app(service)) as c:
        r = c.get("/files/" + name.replace('"', "%22").replace(";", "%3B"))
    assert r.status_code == 200, r.text
    d = r.headers["content-disposition"]
    assert d == "inline; filename=\"r___q__x_1.md\"; filename*=UTF-8''r%C3%A9%20%22q%22%3Bx%3D1.md"


def test_what_the_index_does_not_read_is_not_served(service, seeds):
    (seeds / "run.sh").write_text("echo hi\n", encoding="utf-8")
    (seeds / "picture.svg").write_text("<svg onload='alert(1)'/>", encoding="utf-8")
    with client(create_app(service)) as c:
        for name in ("run.sh", "picture.svg"):
            r = c.get(f"/files/{name}")
            assert r.status_code == 400 and "unsupported format" in r.json()["error"], name


def test_a_file_over_the_limit_is_refused_with_one_json_line(service, seeds):
    with open(seeds / "big.txt", "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no 16 MiB written
    with client(create_app(service)) as c:
        r = c.get("/files/big.txt")
    assert r.status_code == 400
    assert list(r.json()) == ["error"] and "larger than 16" in r.json()["error"]


@pytest.mark.parametrize("source,status", [
    ("%2E%2E/secret.txt", 400), ("notes/%2E%2E/%2E%2E/secret.txt", 400), ("..%2Fsecret.txt", 400),
    ("%2Fetc%2Fpasswd", 400), ("%2F" + str(Path("/etc/passwd")).lstrip("/"), 400), (".hidden.txt", 400),
    ("link.txt", 400), ("passwd.txt", 400), ("outdir/secret.txt", 400),
    ("nope.txt", 404), ("notes", 404), ("pipe.txt", 404), ("cats.txt/more.txt", 404),
])
def test_files_are_confined_to_the_seeds_folder(service, seeds, tmp_path, source, status):
    (tmp_path / "secret.txt").write_text("TOP SECRET\n", encoding="utf-8")
    (seeds / ".hidden.txt").write_text("TOP SECRET\n", encoding="utf-8")
    os.symlink(tmp_path / "secret.txt", seeds / "link.txt")
    os.symlink("/etc/passwd", seeds / "passwd.txt")
    os.symlink(tmp_path, seeds / "outdir")
    os.mkfifo(seeds / "pipe.txt")  # must not wait for a writer
    with client(create_app(service)) as c:
        r = c.get(f"/files/{source}")
    assert r.status_code == status, r.text
    assert b"TOP SECRET" not in r.content and b"root:" not in r.content
    assert list(r.json()) == ["error"] and "\n" not in r.json()["error"]


def test_links_inside_the_folder_are_followed(service, seeds):
    os.symlink("notes/ships.md", seeds / "alias.md")
    with client(create_app(service)) as c:
        r = c.get("/files/alias.md")
    assert r.status_code == 200 and r.content == (seeds / "notes" / "ships.md").read_bytes()


def test_the_token_is_asked_for_files_too(service):
    with client(create_app(service, token="s3cret")) as c:
        assert c.get("/files/cats.txt").status_code == 401
        assert c.get("/files/cats.txt", headers={"Authorization": "Bearer wrong"}).status_code == 401
        r = c.get("/files/cats.txt", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 200 and r.content.startswith(b"All about cats.")


def test_a_page_of_another_site_cannot_read_a_file(service):
    with client(create_app(service, allowed_hosts=["testserver"])) as c:
        r = c.get("/files/cats.txt", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and b"cats" not in r.content


def test_files_are_in_the_openapi_document(service):
    with client(create_app(service)) as c:
        paths = c.get("/openapi.json").json()["paths"]
    assert set(paths["/files/{source}"]) == {"get"}
    assert set(paths["/files/{source}"]["get"]["responses"]["200"]["content"]) == {
        "application/pdf", "text/plain", "application/octet-stream"}


def test_an_open_file_holds_a_read_slot_until_closed(seeds):
    reads = DocumentReads(DocumentLimits(max_reads=1, wait_s=0.2, retry_after_s=3))

    async def go():
        opened = await reads.open_original(seeds, "cats.txt")
        with pytest.raises(DocumentsBusy):
            await reads.open_original(seeds, "cats.txt")
        with pytest.raises(DocumentsBusy):
            await reads.read_lines(seeds, "cats.txt")  # the slots /documents takes
        body = b"".join([c async for c in opened.chunks()])
        opened.close()
        opened.close()  # once only: the slot is not given back twice
        again = await reads.open_original(seeds, "cats.txt")
        again.close()
        with pytest.raises(documents_module.DocumentNotFound):  # a refused open gives its slot back
            await reads.open_original(seeds, "nope.txt")
        (await reads.open_original(seeds, "cats.txt")).close()
        return body

    assert asyncio.run(go()) == (seeds / "cats.txt").read_bytes()


def test_files_and_documents_share_the_busy_limit(service, seeds, monkeypatch):
    """A slow /documents read takes the only slot: /files waits its turn, then gets 503 and Retry-After."""
    go = threading.Event()
    started = threading.Event()
    real = documents_module._parse

    def slow_parse(*args):
        started.set()
        go.wait(30)
        return real(*args)

    monkeypatch.setattr(documents_module, "_parse", slow_parse)
    reads = DocumentReads(DocumentLimits(max_reads=1, wait_s=0.3, retry_after_s=3))
    with serving(create_app(service, allowed_hosts=["127.0.0.1"], documents=reads)) as url, \
            httpx.Client(base_url=url, timeout=30) as c:
        held = []
        t = threading.Thread(target=lambda: held.append(c.get("/documents/cats.txt")))
        t.start()
        assert started.wait(20)
        busy = c.get("/files/cats.txt")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "3"
        assert "retry" in busy.json()["error"]
        go.set()
        t.join(20)
        assert held[0].status_code == 200
        assert c.get("/files/cats.txt").status_code == 200  # the slot was given back


@pytest.mark.skipif(sys.platform.startswith("win"), reason="sparse files")
def test_a_client_that_leaves_mid_file_gives_the_slot_back(service, seeds):
    data = os.urandom(1024) * (8 * 1024)  # 8 MiB: more than one chunk and the socket's buffers take at once
    (seeds / "large.txt").write_bytes(data)
    reads = DocumentReads(DocumentLimits(max_reads=1, wait_s=30.0))
    with serving(create_app(service, allowed_hosts=["127.0.0.1"], documents=reads)) as url:
        with httpx.Client(base_url=url, timeout=30) as c:
            with c.stream("GET", "/files/large.txt") as r:
                assert r.status_code == 200 and r.headers["content-length"] == str(len(data))
                first = next(r.iter_bytes())
                assert data.startswith(first)
            # the connection is closed mid-file; the next read gets the slot (it waits its turn)
        with httpx.Client(base_url=url, timeout=60) as c:
            t0 = time.monotonic()
            r = c.get("/files/large.txt")
            assert r.status_code == 200 and r.content == data
            assert time.monotonic() - t0 < 30
