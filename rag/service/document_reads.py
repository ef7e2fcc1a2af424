"""Bounds on reading documents for clients: a cache of parsed documents, and a few reads at once.

A client that reads a large document over and over must not make the server parse it every time,
hold one copy per request, or starve the searches beside it (issue 23). :class:`DocumentReads` is
the one gate that HTTP ``GET /documents/...`` and MCP ``get`` share: at most
``DocumentLimits.max_reads`` reads run at once (a PDF read is one parser process, so this bounds
those too); a request that finds them all busy waits up to ``wait_s`` seconds, then fails with
:class:`DocumentsBusy` (HTTP 503 with ``Retry-After``). Parsed documents are kept in a
:class:`DocumentCache`, least recently used out first, bounded by their size and their number, keyed
on what ``fstat`` says of the opened file (:func:`rag.service.documents.read_document`).
``GET /files/...`` (a document's original bytes) takes its slot from the same gate, and holds it
until the file is sent (:class:`OpenedOriginal`), at most ``send_s`` seconds.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio import to_thread

from rag.documents.document import Document
from rag.errors import RagError
from rag.service.documents import DocumentLines, OriginalFile, open_original, read_lines


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """``max_reads``: document reads at once; ``wait_s``: how long a read waits for its turn;
    ``retry_after_s``: what a refused client is told to wait; ``cache_bytes`` / ``cache_entries``:
    the bounds of the cache of parsed documents (their text and line table, as Python holds them);
    ``send_s``: the longest an original file's transfer may hold its slot; ``chunk_bytes``: what one
    read of it takes from the file."""

    max_reads: int = 4
    wait_s: float = 2.0
    retry_after_s: int = 2
    cache_bytes: int = 64 * 1024 * 1024
    cache_entries: int = 32
    send_s: float = 120.0
    chunk_bytes: int = 256 * 1024


class DocumentsBusy(RagError):
    """Every document read is taken; the client should retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def document_bytes(doc: Document) -> int:
    """About the memory a parsed document holds: its text and its table of line starts."""
    starts = doc.line_starts()
    return sys.getsizeof(doc.text) + sys.getsizeof(starts) + 32 * len(starts) + 100 * len(doc.blocks)


class DocumentCache:
    """Parsed documents by key, least recently used out first; at most ``max_bytes`` (as
    :func:`document_bytes` counts) and ``max_entries``. A document larger than ``max_bytes`` is not
    kept. Safe to use from several threads."""

    def __init__(self, max_bytes: int, max_entries: int) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._items: OrderedDict[Hashable, tuple[Document, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Document | None:
        with self._lock:
            got = self._items.get(key)
            if got is None:
                return None
            self._items.move_to_end(key)
            return got[0]

    def put(self, key: Hashable, doc: Document) -> None:
        size = document_bytes(doc)  # outside the lock: it may compute the line table
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (doc, size)
            self._bytes += size
            while self._bytes > self.max_bytes or len(self._items) > self.max_entries:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes


class OpenedOriginal:
    """An original file opened for sending, holding one read slot: :meth:`chunks` reads its bytes
    (at most the size it had when opened), :meth:`close` closes it and gives the slot back (once)."""

    def __init__(self, file: OriginalFile, release, chunk_bytes: int) -> None:
        self.file = file
        self._release = release
        self._chunk = chunk_bytes
        self._closed = False

    async def chunks(self):
        left = self.file.size
        while left > 0:
            data = await to_thread.run_sync(os.read, self.file.fd, min(self._chunk, left))
            if not data:  # the file was cut shorter meanwhile
                return
            left -= len(data)
            yield data

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self.file.fd)
            self._release()


class DocumentReads:
    """The gate and cache for documents read by clients (one per server, shared by HTTP and MCP)."""

    def __init__(self, limits: DocumentLimits = DocumentLimits()) -> None:
        self.limits = limits
        self.cache = DocumentCache(limits.cache_bytes, limits.cache_entries)
        self._slots = threading.BoundedSemaphore(limits.max_reads)

    async def read_lines(self, seeds_root: Path, source: str, start: int = 1, end: int | None = None,
                         page: int | None = None) -> DocumentLines:
        """:func:`rag.service.documents.read_lines` in a worker thread, when a read is free within
        ``wait_s``; raises :class:`DocumentsBusy` when none is."""
        await self._take()
        try:
            # once started, the thread is waited for even if the request is cancelled (anyio
            # shields it), so the slot is given back only when the read has ended
            return await to_thread.run_sync(read_lines, seeds_root, source, start, end, page, self.cache)
        finally:
            self._slots.release()

    async def open_original(self, seeds_root: Path, source: str) -> OpenedOriginal:
        """:func:`rag.service.documents.open_original` when a read is free within ``wait_s`` (else
        :class:`DocumentsBusy`); the slot is held by what it returns until that is closed."""
        await self._take()
        try:
            with anyio.CancelScope(shield=True):  # a handle opened is always closed: never cancelled midway
                file = await to_thread.run_sync(open_original, seeds_root, source)
        except BaseException:
            self._slots.release()
            raise
        return OpenedOriginal(file, self._slots.release, self.limits.chunk_bytes)

    async def _take(self) -> None:
        """Take a read slot, waiting (without holding a thread) up to ``wait_s``."""
        deadline = time.monotonic() + self.limits.wait_s
        while not self._slots.acquire(blocking=False):
            if time.monotonic() >= deadline:
                raise DocumentsBusy(f"the server is reading {self.limits.max_reads} documents already: "
                                    f"retry in {self.limits.retry_after_s} s", self.limits.retry_after_s)
            await anyio.sleep(0.02)
