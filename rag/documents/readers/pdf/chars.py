"""From PDFium's characters to runs: pieces of a line with their box, size and weight.

A word (PDFium's characters between blanks) is measured by its first and last characters' loose
boxes (font ascent to descent, so one height per line and font size): its box, its size (the box
height) and whether it is bold (the first character's font weight, 600 or more, or the font's name
where the file gives no weight). A word whose
first character is drawn at another angle than most of the page's (rotated margin text: a
journal's stamp, a printer's slug up the side of the page) is not laid out with the page: it is
collected as a line of its own, in the order the file draws it (:attr:`PageRuns.rotated`), never
one letter per line. Words are grouped into runs, broken at PDFium's line ends, at a move to
another line and at horizontal gaps wider than most of a line's height.
"""

from __future__ import annotations

import ctypes
import math
import re
from collections import Counter
from dataclasses import dataclass, field

BOLD_WEIGHT = 600
_WORD = re.compile(r"[^\s\x00\ufffe]+\ufffe?|\ufffe")  # PDFium joins a line-end hyphen to the next line: cut there


@dataclass(slots=True)
class Run:
    """A piece of a line: its box (PDF points, y up), text, whether all its words are bold and
    whether its first word is ("DATES: The FAA must...")."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    bold: bool = False
    words: int = 1
    lead: bool = False

    @property
    def height(self) -> float:
        return self.y1 - self.y0


@dataclass(slots=True)
class PageRuns:
    runs: list[Run] = field(default_factory=list)
    rotated: list[str] = field(default_factory=list)  # lines of text at another angle, in file order
    turned: int = 0  # quarter turns (clockwise, as PDFium counts) of most of the page's text


def _quarter(angle: float) -> int:
    """The angle (radians) to the nearest quarter turn, 0-3."""
    return round(angle / (math.pi / 2)) % 4


class _Weight:
    """Whether a character is bold: its font's weight (600 or more), or where the file gives none
    (the standard fonts), its font's name ("Helvetica-Bold"). Decided once a font and page."""

    def __init__(self, handle) -> None:
        import pypdfium2.raw as raw  # in the parsing worker, as in PdfReader.parse

        self.handle = handle
        self.raw = raw
        self.buf = ctypes.create_string_buffer(128)
        self.fonts: dict[int, bool] = {}
        self.address = ctypes.cast

    def bold(self, i: int) -> bool:
        raw = self.raw
        weight = raw.FPDFText_GetFontWeight(self.handle, i)
        if weight > 0:
            return weight >= BOLD_WEIGHT
        obj = raw.FPDFText_GetTextObject(self.handle, i)
        font = raw.FPDFTextObj_GetFont(obj) if obj else None
        if not font:
            return False
        key = self.address(font, raw.c_void_p).value
        if key not in self.fonts:
            n = raw.FPDFFont_GetBaseFontName(font, self.buf, len(self.buf))
            name = self.buf.raw[: max(0, min(n, len(self.buf)) - 1)].lower()
            self.fonts[key] = any(w in name for w in (b"bold", b"black", b"heavy", b"semibold", b"demi", b"cmbx"))
        return self.fonts[key]


def _turned(box_of, q: int, w: float, h: float):
    """``box_of`` in the coordinates of the page turned back by ``q`` quarter turns (so that text
    turned by ``q`` reads left to right again), within the turned page."""

    def turn(x: float, y: float) -> tuple[float, float]:  # PDFium's angles turn clockwise
        if q == 1:
            return h - y, x
        if q == 2:
            return w - x, h - y
        return y, w - x

    def turned(i: int) -> tuple[float, float, float, float] | None:
        b = box_of(i)
        if b is None:
            return None
        (ax, ay), (bx, by) = turn(b[0], b[1]), turn(b[2], b[3])
        return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)

    return turned


def _line_end(text: str, at: int) -> int:
    """The offset of the line break after ``at`` in PDFium's text (its length when none)."""
    ends = [i for i in (text.find("\r", at), text.find("\n", at)) if i >= 0]
    return min(ends) if ends else len(text)


def page_runs(textpage, width: float = 0.0, height: float = 0.0) -> PageRuns:
    """The page's runs (upright text) and its rotated lines. Where most of the page's text is
    turned (a landscape table printed on a portrait page), the page is turned with it: boxes are
    given in the turned page's coordinates (``PageRuns.turned`` quarter turns, its ``width`` and
    ``height`` swapped for an odd number), so that its text reads left to right."""
    import pypdfium2.raw as raw  # in the parsing worker, as in PdfReader.parse

    n = textpage.count_chars()
    if n <= 0:
        return PageRuns()
    text = textpage.get_text_range(0, n)
    if len(text) != n:  # the text does not map one-to-one to characters: ask each one
        text = "".join(chr(raw.FPDFText_GetUnicode(textpage.raw, i) or 32) for i in range(n))
    handle = textpage.raw
    rect = raw.FS_RECTF()
    loose_box = raw.FPDFText_GetLooseCharBox
    angle_of = raw.FPDFText_GetCharAngle
    is_bold = _Weight(handle).bold

    def upright_box(i: int) -> tuple[float, float, float, float] | None:
        if not loose_box(handle, i, rect):
            return None
        if rect.right <= rect.left and rect.top <= rect.bottom:
            return None  # a character without a box (generated by PDFium)
        return rect.left, rect.bottom, rect.right, rect.top

    matches = [m.span() for m in _WORD.finditer(text)]
    # The angle of a line's first character stands for the line's (PDFium breaks a line where the
    # direction changes): one call a line, not a word.
    quarters, line_q, line_end = [], 0, -1
    for a, b in matches:
        if a > line_end:
            line_q = _quarter(angle_of(handle, a))
            line_end = _line_end(text, a)
        quarters.append(line_q)
    weights: Counter[int] = Counter()
    if any(quarters):
        for q, (a, b) in zip(quarters, matches):
            weights[q] += b - a
    main = weights.most_common(1)[0][0] if weights else 0
    box_of = upright_box if main == 0 else _turned(upright_box, main, width, height)
    out = PageRuns(turned=main)
    rotated: list[str] = []
    prev_rot = 0

    def pieces():
        """The upright words as (start, end, first box, last box), a word split where PDFium ran
        two lines together without a break (its first and last characters on different lines)."""
        nonlocal prev_rot
        for (start, end), q in zip(matches, quarters):
            if q != main:
                if rotated and ("\n" in text[prev_rot:start] or "\r" in text[prev_rot:start]):
                    out.rotated.append(" ".join(rotated))
                    rotated.clear()
                rotated.append(text[start:end])
                prev_rot = end
                continue
            first = box_of(start)
            last = box_of(end - 1) if end - 1 > start else first
            if first and last and (last[3] <= first[1] or last[1] >= first[3] or last[0] < first[0]):
                a, box_a = start, first
                for i in range(start + 1, end):
                    b = box_of(i)
                    if b and (b[3] <= box_a[1] or b[1] >= box_a[3] or b[0] < box_a[0]):
                        yield a, i, first, box_of(i - 1) or first
                        a, first = i, b
                    if b:
                        box_a = b
                yield a, end, first, last
                continue
            yield start, end, first, last

    runs = out.runs
    words: list[str] = []
    bold, lead = True, None
    x0 = y0 = x1 = y1 = 0.0
    prev_end = 0
    for start, end, first, last in pieces():
        if first is None or last is None:
            first = first or last
            if first is None:  # no geometry at all: it goes with the run it is in
                if words:
                    words.append(text[start:end])
                prev_end = end
                continue
            last = first
        wx0, wy0, wx1, wy1 = first[0], min(first[1], last[1]), max(first[2], last[2]), max(first[3], last[3])
        if words:
            between = text[prev_end:start]
            h = max(y1 - y0, wy1 - wy0, 1.0)
            if (
                main == 0 and ("\n" in between or "\r" in between)  # PDFium breaks turned text at every letter
                or wy1 <= y0
                or wy0 >= y1  # no vertical overlap with the run: another line
                or wx0 - x1 > 0.8 * h
                or wx0 < x1 - 2 * h
            ):
                runs.append(Run(x0, y0, x1, y1, " ".join(words), bold, len(words), bool(lead)))
                words, bold, lead = [], True, None
        if words:
            x0, y0, x1, y1 = min(x0, wx0), min(y0, wy0), max(x1, wx1), max(y1, wy1)
        else:
            x0, y0, x1, y1 = wx0, wy0, wx1, wy1
        word = text[start:end]
        if bold and word[0].isalnum():  # punctuation's font says nothing of the line's weight
            bold = is_bold(start)
            if lead is None:
                lead = bold
        words.append(word)
        prev_end = end
    if words:
        runs.append(Run(x0, y0, x1, y1, " ".join(words), bold, len(words), bool(lead)))
    if rotated:
        out.rotated.append(" ".join(rotated))
    return out
