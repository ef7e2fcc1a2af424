"""A document as a reader hands it over: its text, its blocks of prose, and the map from offsets to
locations (pages, lines, columns, sections).

Every format is read into one plain text (LF newlines). Offsets into that text are what passages
keep (``char_start``/``char_end``); :meth:`Document.location` turns a span into what a citation
names, and :meth:`Document.lines` gives the lines a citation counts, so that what is cited can be
read back through the same reader and checked.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from rag.types import Location


@dataclass(frozen=True, slots=True)
class Block:
    """A unit of prose the reader found (a paragraph): ``text[char_start:char_end]``, whole lines,
    under the heading path ``section`` (None where the format has no headings)."""

    char_start: int
    char_end: int
    section: str | None = None


@dataclass(slots=True)
class Document:
    """One file read by its reader.

    ``text``: the decoded text, LF newlines. ``blocks``: its paragraphs in order; only their text
    becomes passages (a Markdown heading or front matter is not a block). ``page_starts``: for a
    paged format, the offset in ``text`` where each page begins (page 1 at 0); page ``p``'s text is
    ``text[page_starts[p-1]:page_starts[p]]`` without the newline that ends it, and lines are
    counted within the page. Empty for formats without pages. ``warning``: what the build reports
    about the reading (an encoding guess), or None. ``title``: the document's title where the
    format has one (HTML ``<title>``, DOCX core properties, Markdown front matter or H1), else None.
    """

    source: str
    text: str
    blocks: list[Block]
    page_starts: tuple[int, ...] = ()
    warning: str | None = None
    title: str | None = None
    _line_starts: list[int] | None = field(default=None, repr=False)
    _inner: dict[int, tuple[int, int]] = field(default_factory=dict, repr=False)

    # ----------------------------------------------------------------- lines and pages
    def line_starts(self) -> list[int]:
        """Offset where each line of ``text`` starts (computed once)."""
        if self._line_starts is None:
            text, starts = self.text, [0]
            i = text.find("\n")
            while i >= 0:
                starts.append(i + 1)
                i = text.find("\n", i + 1)
            self._line_starts = starts
        return self._line_starts

    @property
    def pages(self) -> int | None:
        """The number of pages, or None for a format without pages."""
        return len(self.page_starts) if self.page_starts else None

    def _page_span(self, page: int | None) -> tuple[int, int]:
        if not self.page_starts:
            if page is not None:
                raise ValueError(f"{self.source} has no pages (asked for page {page})")
            return 0, len(self.text)
        if page is None or not 1 <= page <= len(self.page_starts):
            raise ValueError(f"{self.source} has pages 1-{len(self.page_starts)} (asked for page {page})")
        a = self.page_starts[page - 1]
        b = self.page_starts[page] - 1 if page < len(self.page_starts) else len(self.text)
        return a, max(a, b)

    def lines(self, page: int | None = None) -> list[str]:
        """The lines a citation counts: of the whole text, or of one page of a paged format."""
        a, b = self._page_span(page)
        return self.text[a:b].split("\n")

    def page_of(self, offset: int) -> int | None:
        return bisect_right(self.page_starts, offset) if self.page_starts else None

    # ----------------------------------------------------------------- the location map
    def location(self, a: int, b: int, section: str | None = None) -> tuple[Location, int]:
        """Where ``text[a:b]`` (non-empty) is, and the 1-based column of its first character.

        Columns are named in the location only when the span does not hold its lines whole
        (leading and trailing blanks aside): a piece of a long line.
        """
        starts = self.line_starts()
        first = bisect_right(starts, a) - 1
        last = bisect_right(starts, max(a, b - 1)) - 1
        col_start = a - starts[first] + 1
        col_end = None
        if not self._covers(a, b, first, last):
            col_end = b - starts[last]
        page = self.page_of(a)
        base = 0
        if page is not None:
            base = bisect_right(starts, self.page_starts[page - 1]) - 1  # lines before the page
        loc = Location(
            first + 1 - base,
            last + 1 - base,
            col_start if col_end is not None else None,
            col_end,
            page,
            section,
        )
        return loc, col_start

    def _end_of(self, line: int) -> int:
        starts = self.line_starts()
        return starts[line + 1] - 1 if line + 1 < len(starts) else len(self.text)

    def _nonblank(self, line: int) -> tuple[int, int]:
        """Offsets of the first non-blank character of ``line`` and just past its last one."""
        got = self._inner.get(line)
        if got is None:  # each line is stripped once, however many pieces it holds (linear cost)
            a = self.line_starts()[line]
            s = self.text[a : self._end_of(line)]
            got = (a + len(s) - len(s.lstrip()), a + len(s.rstrip()))
            self._inner[line] = got
        return got

    def _covers(self, a: int, b: int, first: int, last: int) -> bool:
        """True when ``text[a:b]`` holds its lines whole, leading and trailing blanks aside."""
        return a <= self._nonblank(first)[0] and b >= self._nonblank(last)[1]
