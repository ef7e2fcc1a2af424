"""Running headers, footers and page numbers, found across the document's pages and left out.

A line in one of the page's two top or two bottom rows (lines side by side are a row), in the top
or bottom quarter of the page, is page furniture, and is left out of the text, when:
- it is a bare page number ("7", "Page 7", "7 of 20", "- 7 -", roman numerals), and one of the
  page's two outermost lines at its end, or
- the same text, digits aside ("Vol. 85 ... 47701" and "Vol. 85 ... 47703" are one text), stands in
  the same band (top or bottom) on at least three pages and on 40% of them: a running head, a
  journal's footer, a printer's slug; unless its font is clearly larger than the body's (the
  title of a run of slides is a heading, not furniture).
Rotated lines (a margin stamp up the side of the page) that repeat the same way on at least three
pages and 40% of them are left out too; a rotated line that does not repeat is kept, as a
paragraph of its own at the end of its page.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from rag.documents.readers.pdf.layout import Line

REPEAT_SHARE = 0.4
LARGER = 1.3  # a line this much taller than the median line is a heading, whether it repeats or not
MIN_REPEATS = 3  # on two pages, a repeated line is as likely a table's head as a running head
BAND = 0.25  # the top and bottom quarter of a page (LaTeX's margins put a page number 1.8 inches up)
_PAGE_NUMBER = re.compile(
    r"^[\W_]*(?:(?:page|p\.|seite|pag\.)\s*)?(?:\d{1,5}|(?=[ivx])x{0,3}(?:ix|iv|v?i{0,3}))(?:\s*(?:of|/|de|von)\s*\d{1,5})?[\W_]*$",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d+")


@dataclass(slots=True)
class Page:
    """One page as laid out: its lines in reading order, its height, its rotated lines."""

    lines: list[Line]
    height: float
    rotated: list[str]


def _key(text: str) -> str:
    return _DIGITS.sub("#", " ".join(text.lower().split()))


def _band(line: Line, height: float) -> str | None:
    if line.y0 >= height * (1 - BAND):
        return "top"
    if line.y1 <= height * BAND:
        return "bottom"
    return None


def is_page_number(text: str) -> bool:
    return bool(_PAGE_NUMBER.match(text))


def _outer_rows(lines: list[Line], rows: int = 2) -> set[int]:
    """Indexes of the lines in the page's ``rows`` top and ``rows`` bottom rows."""
    order = sorted(range(len(lines)), key=lambda i: -lines[i].y1)
    out: set[int] = set()
    for seq in (order, order[::-1]):
        count, floor, ceil = 0, None, None
        for i in seq:
            line = lines[i]
            if floor is None or line.y1 <= floor or line.y0 >= ceil:  # not beside the row so far: a new row
                count += 1
                if count > rows:
                    break
                floor, ceil = line.y0, line.y1
            else:
                floor, ceil = min(floor, line.y0), max(ceil, line.y1)
            out.add(i)
    return out


def drop_furniture(pages: list[Page]) -> list[Page]:
    """The pages without their running headers, footers, page numbers and repeated rotated lines."""
    counts: Counter[tuple[str, str]] = Counter()
    outer = [_outer_rows(page.lines) for page in pages]
    for page, rows in zip(pages, outer):
        keys = {(b, _key(page.lines[i].text)) for i in rows if (b := _band(page.lines[i], page.height))}
        keys |= {("rotated", _key(t)) for t in page.rotated}
        counts.update(keys)
    need = max(MIN_REPEATS, REPEAT_SHARE * len(pages))
    heights = sorted(line.height for page in pages for line in page.lines)
    tall = LARGER * heights[len(heights) // 2] if heights else 0.0
    out = []
    for page, rows in zip(pages, outer):
        keep = []
        by_top = sorted(range(len(page.lines)), key=lambda i: -page.lines[i].y1)
        ends = set(by_top[:2] + by_top[-2:])
        for i, line in enumerate(page.lines):
            band = _band(line, page.height) if i in rows else None
            if band and ((i in ends and is_page_number(line.text))
                         or counts[(band, _key(line.text))] >= need and line.height <= tall):
                continue
            keep.append(line)
        rotated = [t for t in page.rotated if counts[("rotated", _key(t))] < need]
        out.append(Page(keep, page.height, rotated))
    return out
