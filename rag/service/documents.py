"""Reading a cited document for a client: confined to the seeds folder, through the file's reader.

``source`` is a path relative to the seeds folder, as a citation names it (``notes/ships.md``). It
may not be absolute, name ``..``, a hidden file or folder, or lead (through a link) outside the
folder. The file is opened once, inside the folder at the moment of opening
(:mod:`rag.service.open_beneath`), and its reader parses the bytes read from that handle: the
reader the index used, so the lines are the lines a citation counts. Only the lines asked for are
cut from the text; parsed documents may be kept in a cache
(:class:`~rag.service.document_reads.DocumentCache`). :func:`open_original` opens a document the
same way for its original bytes (``GET /files/...``), with the media type it may be served as.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from rag.documents.decoding import MAX_FILE_BYTES, SkipFile, decode, human_size, normalize_newlines
from rag.documents.document import Document
from rag.documents.readers import find_reader, unsupported_reason
from rag.documents.readers.base import Reader, TextReader
from rag.errors import RagError, SeedsError
from rag.service.open_beneath import LeavesFolder, NotAFile, open_beneath

if TYPE_CHECKING:
    from rag.service.document_reads import DocumentCache

MAX_LINES = 2000  # one request returns at most this many lines

# The only media types an original file is served as, by extension: what a browser shows as a PDF or
# as plain text. Every other document (HTML and DOCX included) is ``application/octet-stream``, to be
# saved, never shown: HTML from the seeds folder must never run as a page of this server.
ORIGINAL_TYPES = {".pdf": "application/pdf", ".txt": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8"}
DOWNLOAD_TYPE = "application/octet-stream"


class DocumentPathError(RagError):
    """A requested document path is not a document of the seeds folder (a client's error)."""


class DocumentNotFound(RagError):
    """The requested document does not exist in the seeds folder."""


@dataclass(frozen=True, slots=True)
class DocumentLines:
    source: str
    start: int
    end: int
    total_lines: int
    page: int | None
    pages: int | None
    lines: list[str]

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "start": self.start,
            "end": self.end,
            "total_lines": self.total_lines,
            "page": self.page,
            "pages": self.pages,
            "text": "\n".join(self.lines),
            "lines": [{"line": self.start + i, "text": t} for i, t in enumerate(self.lines)],
        }


def _checked_parts(source: str) -> tuple[str, ...]:
    """The names of ``source`` below the seeds folder; raises :class:`DocumentPathError`."""
    if not isinstance(source, str) or not source or "\x00" in source or "\\" in source or len(source) > 4096:
        raise DocumentPathError("the source must be a path relative to the seeds folder, as a citation names it")
    pp = PurePosixPath(source)
    if pp.is_absolute() or source.startswith("/") or (len(source) > 1 and source[1] == ":"):
        raise DocumentPathError(f"{source!r} is absolute: give the path relative to the seeds folder, as cited")
    if any(part in ("..", ".", "") or part.startswith(".") for part in source.split("/")):
        raise DocumentPathError(f"{source!r} names '..', '.' or a hidden file: give the path as a citation names it")
    return pp.parts


def _open(seeds_root: Path, source: str) -> tuple[tuple[str, ...], int]:
    """The names of ``source`` and a handle on it, opened inside the seeds folder."""
    parts = _checked_parts(source)
    try:
        return parts, open_beneath(seeds_root, parts)
    except LeavesFolder:
        raise DocumentPathError(f"{source!r} leads outside the seeds folder") from None
    except (FileNotFoundError, NotADirectoryError):
        raise DocumentNotFound(f"no document {source} in the seeds folder") from None
    except NotAFile:
        raise DocumentNotFound(f"no document {source} in the seeds folder (not a file)") from None
    except OSError as exc:
        raise DocumentPathError(f"{source} cannot be read: {exc.strerror or exc}") from None


@dataclass(frozen=True, slots=True)
class OriginalFile:
    """A document's file, opened inside the seeds folder: ``fd`` (the caller closes it), its ``size``
    when opened, its file ``name``, the ``media_type`` to serve it as, ``inline`` (False: a download)."""

    fd: int
    size: int
    name: str
    media_type: str
    inline: bool


def original_type(name: str) -> tuple[str, bool]:
    """The media type a file of this name is served as, and whether a browser may show it (inline)."""
    media = ORIGINAL_TYPES.get(os.path.splitext(name)[1].lower())
    return (media, True) if media is not None else (DOWNLOAD_TYPE, False)


def open_original(seeds_root: Path, source: str) -> OriginalFile:
    """The file of document ``source``, opened as :func:`read_document` opens it (one handle, inside
    the folder); only a format the index reads, at most ``MAX_FILE_BYTES`` (the largest file the
    index reads); raises :class:`DocumentPathError` or :class:`DocumentNotFound`."""
    parts, fd = _open(seeds_root, source)
    try:
        if find_reader(parts[-1]) is None:
            raise DocumentPathError(f"{source}: {unsupported_reason(parts[-1])}")
        size = os.fstat(fd).st_size
        if size > MAX_FILE_BYTES:
            raise DocumentPathError(f"{source} is larger than {human_size(MAX_FILE_BYTES)}, the largest file served")
    except BaseException:
        os.close(fd)
        raise
    media, inline = original_type(parts[-1])
    return OriginalFile(fd, size, parts[-1], media, inline)


def read_document(seeds_root: Path, source: str, cache: DocumentCache | None = None) -> Document:
    """The document ``source`` of the seeds folder, read by its reader from one handle opened inside
    the folder (:func:`~rag.service.open_beneath.open_beneath`), as far as serving its lines needs
    (plain text without its blocks: :func:`_parse`); raises :class:`DocumentPathError` or
    :class:`DocumentNotFound`.

    With ``cache``, a document parsed before is taken from it when the handle is the same file
    unchanged: the key is the handle's device, inode, size and modification time (``fstat``), so a
    file replaced or rewritten is parsed again, and a name that leads elsewhere is never served
    what another file held.
    """
    parts, fd = _open(seeds_root, source)
    with os.fdopen(fd, "rb") as f:
        reader = find_reader(parts[-1])
        if reader is None:
            raise DocumentPathError(f"{source}: {unsupported_reason(parts[-1])}")
        st = os.fstat(f.fileno())
        key = (source, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        doc = cache.get(key) if cache is not None else None
        if doc is not None:
            return doc
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise DocumentPathError(f"{source} is larger than {human_size(MAX_FILE_BYTES)}; run `rag index` to bring the index up to date")
    try:
        doc = _parse(reader, source, data)
    except SkipFile as exc:
        raise SeedsError(f"{source}: {exc}; run `rag index` to bring the index up to date") from None
    if cache is not None:
        cache.put(key, doc)
    return doc


def _parse(reader: Reader, source: str, data: bytes) -> Document:
    """The document as ``reader`` reads it, as far as serving its lines needs: for a format whose
    text is the decoded file (plain text), the decoded text without its blocks (finding paragraphs
    and headings costs several times the decoding, and no line depends on them)."""
    if isinstance(reader, TextReader) and type(reader).parse is TextReader.parse and not reader.isolated:
        text, warning = decode(data)
        return Document(source, normalize_newlines(text), [], warning=warning)
    return reader.load(source, data)


def read_lines(seeds_root: Path, source: str, start: int = 1, end: int | None = None, page: int | None = None,
               cache: DocumentCache | None = None) -> DocumentLines:
    """Lines ``start``..``end`` (1-based, inclusive; within ``page`` for a paged format) of ``source``
    (parsed documents kept in ``cache`` when given: :func:`read_document`).

    ``end`` defaults to ``start + 49``; a range past the end is cut to the document's last line.
    """
    if start < 1:
        raise DocumentPathError(f"start must be a line number of 1 or more, not {start}")
    if end is not None and end < start:
        raise DocumentPathError(f"end ({end}) comes before start ({start}): give an end at or after start")
    doc = read_document(seeds_root, source, cache)
    pages = doc.pages
    if pages and page is None:
        raise DocumentPathError(f"{source} has {pages} pages: give a page from 1 to {pages} (lines count within a page)")
    if not pages and page is not None:
        raise DocumentPathError(f"{source} has no pages: leave page out")
    if pages and not 1 <= page <= pages:
        raise DocumentPathError(f"{source} has {pages} pages: give a page from 1 to {pages}, not {page}")
    a, b = (0, len(doc.text)) if not pages else _page_span(doc, page)
    starts = doc.line_starts()
    first = bisect_right(starts, a) - 1  # the page's first line, counted in the whole text
    total = bisect_right(starts, b) - bisect_right(starts, a) + 1
    end = start + 49 if end is None else end
    end = min(end, total, start + MAX_LINES - 1)
    if start > total:
        where = f"page {page} of {source}" if page else source
        raise DocumentPathError(f"{where} has {total} lines: give a start from 1 to {total}, not {start}")
    # only the lines asked for are cut from the text (not the whole text split on every request)
    stop = starts[first + end] - 1 if first + end < len(starts) else len(doc.text)
    lines = doc.text[starts[first + start - 1] : min(stop, b)].split("\n")
    return DocumentLines(source, start, end, total, page, pages, lines)


def _page_span(doc: Document, page: int) -> tuple[int, int]:
    """Offsets of page ``page``'s text in ``doc.text`` (without the newline that ends it)."""
    a = doc.page_starts[page - 1]
    b = doc.page_starts[page] - 1 if page < len(doc.page_starts) else len(doc.text)
    return a, max(a, b)
