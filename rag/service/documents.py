"""Reading a cited document for a client: confined to the seeds folder, through the file's reader.

``source`` is a path relative to the seeds folder, as a citation names it (``notes/ships.md``). It
may not be absolute, name ``..``, a hidden file or folder, or lead (through a link) outside the
folder. The file is opened once, inside the folder at the moment of opening
(:mod:`rag.service.open_beneath`), and its reader parses the bytes read from that handle: the
reader the index used, so the lines are the lines a citation counts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rag.documents.decoding import MAX_FILE_BYTES, SkipFile, human_size
from rag.documents.document import Document
from rag.documents.readers import find_reader, unsupported_reason
from rag.errors import RagError, SeedsError
from rag.service.open_beneath import LeavesFolder, NotAFile, open_beneath

MAX_LINES = 2000  # one request returns at most this many lines


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


def read_document(seeds_root: Path, source: str) -> Document:
    """The document ``source`` of the seeds folder, read by its reader from one handle opened inside
    the folder (:func:`~rag.service.open_beneath.open_beneath`); raises :class:`DocumentPathError`
    or :class:`DocumentNotFound`."""
    parts = _checked_parts(source)
    try:
        fd = open_beneath(seeds_root, parts)
    except LeavesFolder:
        raise DocumentPathError(f"{source!r} leads outside the seeds folder") from None
    except (FileNotFoundError, NotADirectoryError):
        raise DocumentNotFound(f"no document {source} in the seeds folder") from None
    except NotAFile:
        raise DocumentNotFound(f"no document {source} in the seeds folder (not a file)") from None
    except OSError as exc:
        raise DocumentPathError(f"{source} cannot be read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        reader = find_reader(parts[-1])
        if reader is None:
            raise DocumentPathError(f"{source}: {unsupported_reason(parts[-1])}")
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise DocumentPathError(f"{source} is larger than {human_size(MAX_FILE_BYTES)}; run `rag index` to bring the index up to date")
    try:
        return reader.load(source, data)
    except SkipFile as exc:
        raise SeedsError(f"{source}: {exc}; run `rag index` to bring the index up to date") from None


def read_lines(seeds_root: Path, source: str, start: int = 1, end: int | None = None, page: int | None = None) -> DocumentLines:
    """Lines ``start``..``end`` (1-based, inclusive; within ``page`` for a paged format) of ``source``.

    ``end`` defaults to ``start + 49``; a range past the end is cut to the document's last line.
    """
    if start < 1:
        raise DocumentPathError(f"start must be a line number of 1 or more, not {start}")
    if end is not None and end < start:
        raise DocumentPathError(f"end ({end}) comes before start ({start}): give an end at or after start")
    doc = read_document(seeds_root, source)
    pages = doc.pages
    if pages and page is None:
        raise DocumentPathError(f"{source} has {pages} pages: give a page from 1 to {pages} (lines count within a page)")
    if not pages and page is not None:
        raise DocumentPathError(f"{source} has no pages: leave page out")
    if pages and not 1 <= page <= pages:
        raise DocumentPathError(f"{source} has {pages} pages: give a page from 1 to {pages}, not {page}")
    lines = doc.lines(page)
    total = len(lines)
    end = start + 49 if end is None else end
    end = min(end, total, start + MAX_LINES - 1)
    if start > total:
        where = f"page {page} of {source}" if page else source
        raise DocumentPathError(f"{where} has {total} lines: give a start from 1 to {total}, not {start}")
    return DocumentLines(source, start, end, total, page, doc.pages, lines[start - 1 : end])


