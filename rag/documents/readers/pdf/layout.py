"""Reading order: a page's runs into lines, column by column, by a recursive XY cut.

A region is cut at an empty band, vertical (a gutter between columns) or horizontal (between lines,
blocks, a title and the columns under it), and read top to bottom, left to right:
- a horizontal band one and a half line heights high or more (the blank under a title, above a
  table or a footer) is cut first;
- then a vertical band at least half a line height wide with prose on both sides (runs of three
  words or more, as a median) is a column gutter, cut before any narrower horizontal band, so
  that columns are never cut across at a gap that happens to line up in all of them;
- a vertical band between short runs (table cells, a form's labels and values) is cut only where
  no horizontal band is wider and rows do not line up across it: a table is read row by row, its
  cells joined by spaces on one line.
Two- and three-column pages, a full-width title or abstract above columns, and columns below a
full-width block read in order, whatever order the file draws them in.
"""

from __future__ import annotations

import statistics
from bisect import bisect_left
from dataclasses import dataclass

from rag.documents.readers.pdf.chars import Run

PROSE_WORDS = 3  # the median words a run on each side of a gutter between columns of prose
GUTTER = 0.5  # the narrowest gutter, in line heights
MAX_GUTTERS = 3  # the widest vertical bands tried as column gutters (a table has one between every two columns)
BLANK_BAND = 1.5  # a horizontal band this many line heights high is cut before any gutter


@dataclass(slots=True)
class Line:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    region: int  # which leaf of the XY cut it came from (a new one starts a paragraph)
    bold: bool = False
    lead: bool = False  # its first word is bold
    cells: int = 1  # the runs side by side it was made of (a table row's cells)

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def _gaps(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The empty intervals between the union of ``spans``: (start, end), in increasing order."""
    spans = sorted(spans)
    out = []
    reach = spans[0][1]
    for a, b in spans[1:]:
        if a > reach:
            out.append((reach, a))
        reach = max(reach, b)
    return out


def _prose(runs: list[Run]) -> bool:
    """Whether the median run has ``PROSE_WORDS`` words or more."""
    return sum(r.words >= PROSE_WORDS for r in runs) * 2 >= len(runs)


def _rows_across(left: list[Run], right: list[Run]) -> bool:
    """Whether most runs on the narrower side share their line with a run on the other side
    (the rows of a table)."""
    few, many = (left, right) if len(left) <= len(right) else (right, left)
    spans = sorted((r.y0, r.y1) for r in many)
    bottoms = [a for a, _ in spans]
    shared = 0
    for r in few:
        h = r.height * 0.3
        i = bisect_left(bottoms, r.y0 - h)
        while i < len(spans) and spans[i][0] <= r.y0 + h:
            if abs(spans[i][1] - r.y1) <= h:
                shared += 1
                break
            i += 1
    return shared >= 0.6 * len(few)


def _split(group: list[Run], size: float) -> tuple[list[Run], list[Run]] | None:
    """The two parts of ``group`` in reading order, cut at its best band, or None (a leaf)."""
    h = _gaps([(r.y0, r.y1) for r in group])
    best_h = max(h, key=lambda g: g[1] - g[0], default=None)
    h_width = best_h[1] - best_h[0] if best_h else 0.0
    if h_width >= BLANK_BAND * size:  # a blank band across the region: a title, a table, a footer
        cut = (best_h[0] + best_h[1]) / 2
        return [r for r in group if r.y0 >= cut], [r for r in group if r.y0 < cut]
    min_gutter = GUTTER * size
    v = _gaps([(r.x0, r.x1) for r in group])
    gutters = sorted((g for g in v if g[1] - g[0] >= min_gutter), key=lambda g: g[0] - g[1])[:MAX_GUTTERS]
    parts = []
    for a, b in gutters:
        cut = (a + b) / 2
        parts.append(([r for r in group if r.x1 <= cut], [r for r in group if r.x1 > cut]))
        if _prose(parts[-1][0]) and _prose(parts[-1][1]):
            return parts[-1]
    if gutters and gutters[0][1] - gutters[0][0] >= h_width and not _rows_across(*parts[0]):
        return parts[0]
    if best_h is not None:
        cut = (best_h[0] + best_h[1]) / 2
        return [r for r in group if r.y0 >= cut], [r for r in group if r.y0 < cut]
    return None


def _leaves(runs: list[Run], size: float) -> list[list[Run]]:
    """The leaves of the recursive XY cut of ``runs``, in reading order."""
    leaves: list[list[Run]] = []
    stack = [runs]
    while stack:
        group = stack.pop()
        parts = _split(group, size) if len(group) > 1 else None
        if parts is None:
            leaves.append(group)
        else:
            stack.append(parts[1])
            stack.append(parts[0])
    return leaves


def page_lines(runs: list[Run]) -> list[Line]:
    """The page's lines in reading order."""
    if not runs:
        return []
    size = statistics.median(r.height for r in runs) or 1.0
    out: list[Line] = []
    for region, leaf in enumerate(_leaves(runs, size)):
        leaf.sort(key=lambda r: (-r.y1, r.x0))
        rows: list[list[Run]] = []
        for r in leaf:
            if rows:
                last = rows[-1]
                top = min(x.y1 for x in last)
                bottom = max(x.y0 for x in last)
                overlap = min(top, r.y1) - max(bottom, r.y0)
                if overlap > 0.5 * min(top - bottom, r.y1 - r.y0):
                    last.append(r)
                    continue
            rows.append([r])
        for row in rows:
            row.sort(key=lambda r: r.x0)
            out.append(
                Line(
                    min(r.x0 for r in row),
                    min(r.y0 for r in row),
                    max(r.x1 for r in row),
                    max(r.y1 for r in row),
                    " ".join(r.text for r in row),
                    region,
                    all(r.bold for r in row),
                    row[0].lead,
                    len(row),
                )
            )
    return out


def same_row(a: Line, b: Line) -> bool:
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    return overlap > 0.5 * min(a.height, b.height) and b.x0 >= a.x1 - 0.5 * min(a.height, b.height)


def join_rows(lines: list[Line]) -> list[Line]:
    """Consecutive lines that share a row (pieces of a justified line the cut took apart, a table's
    cells) joined."""
    out: list[Line] = []
    for line in lines:
        if out and same_row(out[-1], line):
            a = out[-1]
            out[-1] = Line(a.x0, min(a.y0, line.y0), line.x1, max(a.y1, line.y1), f"{a.text} {line.text}", a.region,
                           a.bold and line.bold, a.lead, a.cells + line.cells)
        else:
            out.append(line)
    return out
