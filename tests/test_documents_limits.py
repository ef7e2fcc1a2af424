"""Reading documents cannot take the server down (issue 23, item 6): a parsed document is kept in a
bounded cache keyed on the opened file's identity and state, so a document read again is not parsed
again while a changed or replaced file is; only a few reads run at once, shared by HTTP and MCP, and
a request that finds them taken gets 503 with Retry-After (HTTP) or a one-line error (MCP)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import httpx
import pytest

from live_server import serving
from rag import build_index
from rag.documents.readers import find_reader
from rag.service import documents as documents_module
from rag.service.document_reads import DocumentCache, DocumentLimits, DocumentReads, document_bytes
from rag.service.documents import read_document, read_lines
from rag.service.http import create_app
from rag.service.state import IndexService


class SpyParses:
    """Stands in for the parse of rag.service.documents (``_parse``): the real one, counted, and
    each held until ``go`` is set (a slow reader)."""

    def __init__(self, real) -> None:
        self.real = real
        self.parses = 0
        self.go = threading.Event()
        self.go.set()
        self._lock = threading.Lock()

    def __call__(self, reader, source: str, data: bytes):
        with self._lock:
            self.parses += 1
        assert self.go.wait(20), "the test never let the parse go on"
        return self.real(reader, source, data)


@pytest.fixture
def spy(monkeypatch) -> SpyParses:
    parses = SpyParses(documents_module._parse)
    monkeypatch.setattr(documents_module, "_parse", parses)
    return parses


def cache() -> DocumentCache:
    return DocumentCache(max_bytes=1 << 24, max_entries=8)


def test_a_document_read_again_is_not_parsed_again(seeds, spy):
    c = cache()
    first = read_lines(seeds, "cats.txt", cache=c)
    again = read_lines(seeds, "cats.txt", start=3, end=4, cache=c)
    assert spy.parses == 1
    assert first.lines[0] == "All about cats."
    assert again.lines == ["Cats sleep for most of the day.", "They hunt at dawn and dusk."]
    read_lines(seeds, "cats.txt")  # without a cache, every read parses
    assert spy.parses == 2


def test_a_changed_file_is_parsed_again(seeds, spy):
    c = cache()
    path = seeds / "cats.txt"
    assert read_lines(seeds, "cats.txt", cache=c).lines[0] == "All about cats."
    st = path.stat()
    path.write_text("All about dogs.\n", encoding="utf-8")  # a new size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the old modification time
    assert read_lines(seeds, "cats.txt", cache=c).lines == ["All about dogs.", ""]
    assert spy.parses == 2
    path.write_text("All about rats.\n", encoding="utf-8")  # the same size, a new modification time
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert read_lines(seeds, "cats.txt", cache=c).lines == ["All about rats.", ""]
    assert spy.parses == 3


def test_a_file_replaced_by_another_with_the_same_size_and_time_is_parsed_again(seeds, spy):
    c = cache()
    path = seeds / "cats.txt"
    before = read_lines(seeds, "cats.txt", cache=c).lines
    st = path.stat()
    other = seeds / "other.tmp"
    other.write_text(path.read_text(encoding="utf-8").replace("cats", "bats"), encoding="utf-8")
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert other.stat().st_size == st.st_size
    os.replace(other, path)  # a new inode under the old name, size and time
    after = read_lines(seeds, "cats.txt", cache=c).lines
    assert spy.parses == 2
    assert before[0] == "All about cats." and after[0] == "All about bats."


def test_the_cache_is_bounded_by_entries_and_by_bytes(seeds):
    docs = [read_document(seeds, "cats.txt") for _ in range(3)]
    size = document_bytes(docs[0])
    by_entries = DocumentCache(max_bytes=1 << 30, max_entries=2)
    for i, d in enumerate(docs):
        by_entries.put(i, d)
    assert len(by_entries) == 2 and by_entries.get(0) is None and by_entries.get(2) is docs[2]
    by_bytes = DocumentCache(max_bytes=2 * size, max_entries=100)
    by_bytes.put(0, docs[0])
    by_bytes.put(1, docs[1])
    by_bytes.get(0)  # used last: the older one goes
    by_bytes.put(2, docs[2])
    assert by_bytes.get(1) is None and by_bytes.get(0) is docs[0] and by_bytes.get(2) is docs[2]
    assert by_bytes.bytes <= 2 * size
    too_big = DocumentCache(max_bytes=size - 1, max_entries=100)
    too_big.put(0, docs[0])
    assert len(too_big) == 0 and too_big.bytes == 0


@pytest.mark.parametrize("text", ["a\nb\n\nc", "a\nb\n\nc\n", "\n\nx\n\n", "one line", "x\n" * 120])
def test_the_lines_cut_from_the_text_are_the_lines_a_citation_counts(seeds, text):
    (seeds / "t.txt").write_text(text, encoding="utf-8")
    doc = read_document(seeds, "t.txt")
    want = doc.lines()
    for start in range(1, len(want) + 1):
        for end in (start, start + 1, start + 7, len(want), len(want) + 5):
            got = read_lines(seeds, "t.txt", start, end)
            assert got.lines == want[start - 1 : min(end, len(want))], (start, end)
            assert got.total_lines == len(want)


def test_the_lines_of_a_page_are_the_lines_a_citation_counts(seeds):
    from pdfs import paper

    (seeds / "paper.pdf").write_bytes(paper([[["The lighthouse keeper rows out at dawn.", "Second line."]],
                                             [["Gulls follow the boat home."]], [["Last page."]]]))
    doc = read_document(seeds, "paper.pdf")
    for page in (1, 2, 3):
        want = doc.lines(page)
        for start in range(1, len(want) + 1):
            got = read_lines(seeds, "paper.pdf", start, start + 50, page=page)
            assert got.lines == want[start - 1 :] and got.total_lines == len(want), (page, start)


@pytest.mark.parametrize("name,data", [
    ("crlf.txt", b"Title\r\n\r\nFirst line.\r\nSecond line.\rThird.\r\n"),
    ("bom.txt", "\ufeffCaf\u00e9 au lait.\n\nNext.\n".encode("utf-8")),
    ("cp1252.txt", "Na\u00efve r\u00e9sum\u00e9.\n\nMore.\n".encode("cp1252")),
    ("utf16.txt", "Wide text.\r\n\r\nSecond paragraph.\r\n".encode("utf-16")),
    ("notes.md", b"---\ntitle: T\n---\n# Head\n\nBody line.\n"),
])
def test_lines_served_are_the_lines_the_index_reader_reads(seeds, name, data):
    """Plain text is served without finding its blocks: the lines are still the index reader's."""
    (seeds / name).write_bytes(data)
    want = find_reader(name).load(name, data).lines()
    got = read_lines(seeds, name, 1, 100)
    assert got.lines == want and got.total_lines == len(want)


@pytest.fixture
def service(seeds: Path, tmp_path: Path, fake_encoder) -> IndexService:
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    return IndexService(idx, seeds, encoder=fake_encoder, retry_delay=0.0)


def test_reads_beyond_the_limit_get_503_with_retry_after_and_mcp_a_one_line_error(service, spy):
    from mcp import Client

    from rag.service.mcp_server import build_mcp

    reads = DocumentReads(DocumentLimits(max_reads=2, wait_s=0.3, retry_after_s=3))
    spy.go.clear()  # every parse waits until the test lets it go
    with serving(create_app(service, allowed_hosts=["127.0.0.1"], documents=reads)) as url, \
            httpx.Client(base_url=url, timeout=30) as c:
        results: list[httpx.Response] = []
        held = [threading.Thread(target=lambda: results.append(c.get("/documents/cats.txt"))) for _ in range(2)]
        for t in held:
            t.start()
        deadline = time.monotonic() + 20
        while spy.parses < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert spy.parses == 2  # both reads are in their parser

        t0 = time.monotonic()
        busy = c.get("/documents/cats.txt")
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "3"
        assert "retry" in busy.json()["error"]
        assert 0.25 <= time.monotonic() - t0 < 5  # it waited its turn first

        async def mcp_get():
            async with Client(build_mcp(service, documents=reads)) as m:
                return await m.call_tool("get", {"source": "cats.txt"})

        res = asyncio.run(mcp_get())  # the same bound as HTTP
        assert res.is_error and "retry" in res.content[0].text and "\n" not in res.content[0].text

        spy.go.set()
        for t in held:
            t.join(20)
        assert [r.status_code for r in results] == [200, 200]
        ok = c.get("/documents/cats.txt", params={"start": 3, "end": 3})  # the slots were given back
        assert ok.status_code == 200 and ok.json()["lines"] == [{"line": 3, "text": "Cats sleep for most of the day."}]
        assert spy.parses == 2  # and the document came from the cache
