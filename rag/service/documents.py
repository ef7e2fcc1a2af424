"""Reading a cited document for a client: confined to the seeds folder, through the file's reader.

``source`` is a path relative to the seeds folder, as a citation names it (``notes/ships.md``). It
may not be absolute, name ``..``, a hidden file or folder, or lead (through a link) outside the
folder; the file is read by the reader the index used, so the lines are the lines a citation counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rag.documents.readers import find_reader, unsupported_reason
from rag.errors import RagError

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


def confined_path(seeds_root: Path, source: str) -> Path:
    """The file ``source`` names inside ``seeds_root``; raises :class:`DocumentPathError` or
    :class:`DocumentNotFound`."""
    if not isinstance(source, str) or not source or "\x00" in source or "\\" in source or len(source) > 4096:
        raise DocumentPathError("the source must be a path relative to the seeds folder, as a citation names it")
    pp = PurePosixPath(source)
    if pp.is_absolute() or source.startswith("/") or (len(source) > 1 and source[1] == ":"):
        raise DocumentPathError(f"{source!r} is absolute: give the path relative to the seeds folder, as cited")
    if any(part in ("..", ".", "") or part.startswith(".") for part in source.split("/")):
        raise DocumentPathError(f"{source!r} names '..', '.' or a hidden file: give the path as a citation names it")
    root = Path(seeds_root).resolve()
    p = root.joinpath(*pp.parts)
    try:
        real = p.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise DocumentNotFound(f"no document {source} in the seeds folder") from None
    except (OSError, RuntimeError):
        raise DocumentPathError(f"{source!r} cannot be resolved inside the seeds folder") from None
    try:
        real.relative_to(root)
    except ValueError:
        raise DocumentPathError(f"{source!r} leads outside the seeds folder") from None
    if not real.is_file():
        raise DocumentNotFound(f"no document {source} in the seeds folder (not a file)")
    if find_reader(p.name) is None:
        raise DocumentPathError(f"{source}: {unsupported_reason(p.name)}")
    return p


def read_lines(seeds_root: Path, source: str, start: int = 1, end: int | None = None, page: int | None = None) -> DocumentLines:
    """Lines ``start``..``end`` (1-based, inclusive; within ``page`` for a paged format) of ``source``.

    ``end`` defaults to ``start + 49``; a range past the end is cut to the document's last line.
    """
    path = confined_path(seeds_root, source)
    if start < 1 or (end is not None and end < start):
        raise DocumentPathError(f"lines {start}-{end} are not a range: start at 1 or more, end at start or more")
    reader = find_reader(path.name)
    assert reader is not None
    doc = reader.read(path, source)
    try:
        lines = doc.lines(page)
    except ValueError as exc:
        raise DocumentPathError(str(exc)) from None
    total = len(lines)
    end = start + 49 if end is None else end
    end = min(end, total, start + MAX_LINES - 1)
    if start > total:
        raise DocumentPathError(f"{source} has {total} lines (asked for line {start})")
    return DocumentLines(source, start, end, total, page, doc.pages, lines[start - 1 : end])


