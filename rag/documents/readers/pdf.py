"""PDF (.pdf, text layer only): pages of text in reading order, paragraphs as blocks.

Read with pypdfium2 (PDFium, Apache-2.0/BSD). Decisions:
- Reading order: PDFium's characters and their boxes are grouped into runs (pieces of a line,
  broken at line ends and at wide horizontal gaps), then ordered by a recursive XY cut: a region is
  cut at its widest empty band, vertical (a column gutter) or horizontal (between lines, blocks,
  header and body), and read top to bottom, left to right. Two- and three-column pages read column
  by column, whatever order the file draws them in. Runs that share a line are joined by a space.
- Paragraphs: a blank line where the gap to the next line is clearly wider than the page's usual
  line gap, where a new column or region starts, or where a line is indented past its column.
- Hyphenation: a line ending in a hyphen after a letter, followed by a line of the same paragraph
  starting with a lower-case letter, is joined (the word's end moves up a line).
- Running headers and footers: a line among the two top or two bottom lines of a page that is a bare
  page number ("7", "Page 7", "7 of 20", "- 7 -", roman numerals) or that repeats (digits aside) in
  that place on at least two pages and 40% of them, is left out.
- Pages: the document's text is its pages joined by newlines (``page_starts``); lines are counted
  within the page; every block lies within one page, so no passage spans pages.
- A file with no text on any page is skipped ("no text layer; OCR is not supported"); an encrypted
  one that needs a password likewise; more than ``MAX_PAGES`` pages, likewise.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass

from rag.documents.chunking import paragraph_blocks
from rag.documents.decoding import SkipFile
from rag.documents.document import Block, Document
from rag.documents.readers.base import Reader

MAX_PAGES = 5000
NO_TEXT = "no text layer; OCR is not supported"

# PDFium reports a hyphen it takes for a line-end (soft) hyphen as U+FFFE (or U+0002).
_SOFT = ("\ufffe", "\x02", "\xad")
_HYPHENS = ("-", "\u2010") + _SOFT
_PAGE_NUMBER = re.compile(
    r"^[\W_]*(?:(?:page|p\.|seite|pag\.)\s*)?(?:\d{1,5}|(?=[ivxlcdm])m{0,3}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3}))(?:\s*(?:of|/|de|von)\s*\d{1,5})?[\W_]*$",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d+")


@dataclass(slots=True)
class _Run:
    """A piece of a line: its box (PDF points, y up) and text."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str


@dataclass(slots=True)
class _Line:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    region: int  # which leaf of the XY cut it came from (a new one starts a paragraph)

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def _runs(textpage) -> list[_Run]:
    """The page's characters grouped into runs: broken at PDFium's line ends, at a move to another
    line, and at horizontal gaps wider than half the characters' height."""
    n = textpage.count_chars()
    if n <= 0:
        return []
    text = textpage.get_text_range(0, n)
    if len(text) != n:  # the text does not map one-to-one to characters: ask each one
        text = "".join(chr(_unicode(textpage, i)) for i in range(n))
    runs: list[_Run] = []
    cur: list[str] = []
    box: list[float] = []
    last_x1 = 0.0

    def close() -> None:
        s = "".join(cur).strip()
        if s and box:
            runs.append(_Run(box[0], box[1], box[2], box[3], " ".join(s.split())))
        cur.clear()
        box.clear()

    for i, ch in enumerate(text):
        if ch in "\r\n":
            close()
            continue
        if ch.isspace() or ch == "\x00":
            if cur:
                cur.append(" ")
            continue
        x0, y0, x1, y1 = textpage.get_charbox(i, loose=True)  # font ascent to descent: one height per line
        if x1 <= x0 and y1 <= y0:  # a character without a box (generated): keep, no geometry
            if cur:
                cur.append(ch)
            continue
        if box:
            h = max(box[3] - box[1], y1 - y0, 1.0)
            new_line = y1 <= box[1] or y0 >= box[3]  # no vertical overlap with the run
            if new_line or x0 - last_x1 > 0.8 * h or x0 < last_x1 - 2 * h:
                close()
        if not box:
            box[:] = [x0, y0, x1, y1]
        else:
            box[0], box[1] = min(box[0], x0), min(box[1], y0)
            box[2], box[3] = max(box[2], x1), max(box[3], y1)
        cur.append(ch)
        last_x1 = x1
    close()
    return runs


def _unicode(textpage, i: int) -> int:
    import pypdfium2.raw as raw

    return raw.FPDFText_GetUnicode(textpage.raw, i) or 32


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


def _xy_cut(runs: list[_Run], min_gutter: float, leaves: list[list[_Run]]) -> None:
    """Append the leaves of the recursive XY cut of ``runs``, in reading order."""
    stack = [runs]
    while stack:
        group = stack.pop()
        if len(group) == 1:
            leaves.append(group)
            continue
        v = _gaps([(r.x0, r.x1) for r in group])
        h = _gaps([(r.y0, r.y1) for r in group])
        best_v = max(v, key=lambda g: g[1] - g[0], default=None)
        best_h = max(h, key=lambda g: g[1] - g[0], default=None)
        v_width = best_v[1] - best_v[0] if best_v else 0.0
        h_width = best_h[1] - best_h[0] if best_h else 0.0
        if best_v is not None and v_width >= min_gutter and v_width >= h_width:
            cut = (best_v[0] + best_v[1]) / 2
            left = [r for r in group if r.x1 <= cut]
            right = [r for r in group if r.x1 > cut]
            stack.append(right)
            stack.append(left)
        elif best_h is not None:
            cut = (best_h[0] + best_h[1]) / 2
            top = [r for r in group if r.y0 >= cut]
            bottom = [r for r in group if r.y0 < cut]
            stack.append(bottom)
            stack.append(top)
        else:
            leaves.append(group)


def _lines(runs: list[_Run]) -> list[_Line]:
    """The page's lines in reading order."""
    if not runs:
        return []
    heights = [r.y1 - r.y0 for r in runs]
    size = statistics.median(heights) or 1.0
    leaves: list[list[_Run]] = []
    _xy_cut(runs, 1.0 * size, leaves)
    out: list[_Line] = []
    for region, leaf in enumerate(leaves):
        leaf.sort(key=lambda r: (-r.y1, r.x0))
        rows: list[list[_Run]] = []
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
                _Line(
                    min(r.x0 for r in row),
                    min(r.y0 for r in row),
                    max(r.x1 for r in row),
                    max(r.y1 for r in row),
                    " ".join(r.text for r in row),
                    region,
                )
            )
    return out


def _marginal(lines: list[_Line], page_height: float) -> set[int]:
    """Indexes of the lines that may be running headers or footers: the two top and two bottom
    lines of the page, when they lie in its outer sixth."""
    if not lines:
        return set()
    by_top = sorted(range(len(lines)), key=lambda i: -lines[i].y1)
    out = set()
    for i in by_top[:2]:
        if lines[i].y0 >= page_height * 5 / 6:
            out.add(i)
    for i in by_top[-2:]:
        if lines[i].y1 <= page_height / 6:
            out.add(i)
    return out


def _key(text: str) -> str:
    return _DIGITS.sub("#", " ".join(text.lower().split()))


def _drop_running(pages: list[tuple[list[_Line], float]]) -> list[list[_Line]]:
    """The pages' lines without running headers, footers and page numbers."""
    marginal = [_marginal(lines, h) for lines, h in pages]
    counts: Counter[str] = Counter()
    for (lines, _), idx in zip(pages, marginal):
        counts.update({_key(lines[i].text) for i in idx})
    need = max(2, 0.4 * len(pages))
    out = []
    for (lines, _), idx in zip(pages, marginal):
        keep = []
        for i, line in enumerate(lines):
            if i in idx and (_PAGE_NUMBER.match(line.text) or counts[_key(line.text)] >= need):
                continue
            keep.append(line)
        out.append(keep)
    return out


def _same_row(a: _Line, b: _Line) -> bool:
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    return overlap > 0.5 * min(a.height, b.height) and b.x0 >= a.x1 - 0.5 * min(a.height, b.height)


def _rows(lines: list[_Line]) -> list[_Line]:
    """Consecutive lines that share a row (pieces of a justified line the cut took apart) joined."""
    out: list[_Line] = []
    for line in lines:
        if out and _same_row(out[-1], line):
            a = out[-1]
            out[-1] = _Line(a.x0, min(a.y0, line.y0), line.x1, max(a.y1, line.y1), f"{a.text} {line.text}", a.region)
        else:
            out.append(line)
    return out


def _page_text(lines: list[_Line]) -> str:
    """The page's text: one line per line, a blank line between paragraphs, hyphenation joined."""
    lines = _rows(lines)
    if not lines:
        return ""
    gaps = [prev.y0 - cur.y1 for prev, cur in zip(lines, lines[1:]) if cur.y1 <= prev.y0 + 0.5 * prev.height]
    size = max(statistics.median(line.height for line in lines), 1.0)
    usual = statistics.median(gaps) if gaps else size
    if len(gaps) < 3:  # too few to tell the line gap from a paragraph gap: at most half a line
        usual = min(usual, 0.5 * size)
    texts = [lines[0].text]
    for prev, cur in zip(lines, lines[1:]):
        gap = prev.y0 - cur.y1
        h = max(prev.height, cur.height, 1.0)
        new_para = (
            gap < -0.5 * h  # up the page: the next column or region
            or gap > max(usual * 1.8, usual + 0.6 * size)  # a wider gap than between lines
            or cur.x0 > prev.x0 + 1.0 * h and cur.x0 < prev.x1  # an indented first line
        )
        if new_para:
            texts.append("")
        else:
            last = texts[-1]
            if len(last) >= 2 and last[-1] in _HYPHENS and last[-2].isalpha() and cur.text[:1].islower():
                word, _, rest = cur.text.partition(" ")
                texts[-1] = last[:-1] + word
                if rest:
                    texts.append(rest)
                continue
        texts.append(cur.text)
    return "\n".join(_clean(t) for t in texts)


def _clean(line: str) -> str:
    """A line without the soft-hyphen and control characters PDFs carry (a soft hyphen that ends a
    line the hyphenation join did not take stays as a hyphen)."""
    if line.endswith(_SOFT):
        line = line[:-1] + "-"
    for soft in _SOFT:
        line = line.replace(soft, "")
    return "".join(ch for ch in line if ch >= " " or ch == "\t").rstrip()


class PdfReader(Reader):
    name = "pdf"
    extensions = (".pdf",)
    isolated = True

    def parse(self, source: str, data: bytes) -> Document:
        import pypdfium2 as pdfium

        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            message = str(exc).lower()
            if "password" in message:
                raise SkipFile("encrypted: it needs a password, which rag does not ask for") from None
            if "format" in message or "file" in message:
                raise SkipFile(f"not a readable PDF ({' '.join(str(exc).split())})") from None
            raise SkipFile(f"cannot be read as a PDF ({' '.join(str(exc).split())})") from None
        try:
            return self._document(source, pdf)
        finally:
            pdf.close()

    def _document(self, source: str, pdf) -> Document:
        n = len(pdf)
        if n == 0:
            raise SkipFile("a PDF without pages")
        if n > MAX_PAGES:
            raise SkipFile(f"{n:,} pages, more than the {MAX_PAGES:,}-page limit; split it into smaller files")
        pages: list[tuple[list[_Line], float]] = []
        for i in range(n):
            page = pdf[i]
            try:
                textpage = page.get_textpage()
                try:
                    pages.append((_lines(_runs(textpage)), page.get_height()))
                finally:
                    textpage.close()
            finally:
                page.close()
        if not any(lines for lines, _ in pages):
            raise SkipFile(NO_TEXT)
        texts = [_page_text(lines) for lines in _drop_running(pages)]
        starts, blocks, offset = [], [], 0
        for t in texts:
            starts.append(offset)
            blocks += [Block(b.char_start + offset, b.char_end + offset) for b in paragraph_blocks(t)]
            offset += len(t) + 1
        warning = None
        empty = sum(1 for t in texts if not t.strip())
        if blocks and empty > n / 2:  # a blank page or two is normal; most pages blank is a scan
            warning = f"{empty} of {n} pages have no text layer (OCR is not supported)"
        return Document(source, "\n".join(texts), blocks, page_starts=tuple(starts), warning=warning)
