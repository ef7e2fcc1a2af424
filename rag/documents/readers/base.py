"""What a reader is: it turns one file's bytes into a :class:`~rag.documents.document.Document`.

A reader for a text-like format subclasses :class:`TextReader` and finds its blocks in the decoded
text; a reader for a binary format (PDF, DOCX) overrides :meth:`Reader.parse` and builds the
document's text itself (with ``page_starts`` where it has pages).

Budgets: callers parse through :meth:`Reader.load`, never :meth:`Reader.parse` directly. A reader
for a binary format, whose parser is a C library or a deep tree walk that a hostile file can make
loop, explode or crash, sets ``isolated = True``: :meth:`Reader.load` then parses in a worker
process within ``budget`` (:class:`~rag.documents.readers.budget.Budget`: seconds and memory), and a
file over budget is skipped with the reason (:class:`SkipFile`). Such a reader must be
constructible without arguments. Text readers parse in-process (their cost is linear in the
file's size, which :data:`MAX_FILE_BYTES` bounds).
"""

from __future__ import annotations

from pathlib import Path

from rag.documents.decoding import MAX_FILE_BYTES, SkipFile, decode, normalize_newlines, read_bytes
from rag.documents.document import Block, Document
from rag.documents.readers.budget import DEFAULT_BUDGET, Budget, parse_within_budget
from rag.errors import SeedsError


class Reader:
    """One format. ``extensions``: the lower-case file name endings it reads (with the dot)."""

    name: str = ""
    extensions: tuple[str, ...] = ()
    isolated: bool = False  # parse in a worker process within ``budget`` (binary formats)
    budget: Budget = DEFAULT_BUDGET

    def parse(self, source: str, data: bytes) -> Document:
        """The document in ``data``; raises :class:`SkipFile` when it cannot be indexed."""
        raise NotImplementedError

    def load(self, source: str, data: bytes) -> Document:
        """:meth:`parse`, within this reader's budget when it is ``isolated``; raises
        :class:`SkipFile` when the file cannot be indexed (over budget included)."""
        if self.isolated:
            return parse_within_budget(self, source, data, self.budget)
        return self.parse(source, data)

    def read(self, path: str | Path, source: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> Document:
        """Read the file at ``path`` as the index read it (for the source view, say).

        Raises :class:`~rag.errors.SeedsError` when the file cannot be read any more.
        """
        path = Path(path)
        try:
            return self.load(source if source is not None else path.name, read_bytes(path, max_bytes))
        except SkipFile as exc:
            raise SeedsError(f"{path}: {exc}; run `rag index` to bring the index up to date") from None


class TextReader(Reader):
    """A format whose bytes are text: decoded, newlines normalized, then cut into blocks."""

    def parse(self, source: str, data: bytes) -> Document:
        text, warning = decode(data)
        text = normalize_newlines(text)
        return Document(source, text, self.blocks(text), warning=warning)

    def blocks(self, text: str) -> list[Block]:
        raise NotImplementedError
