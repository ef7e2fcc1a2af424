"""A page's lines into paragraphs, and words broken at line ends joined where the result is a word.

Paragraphs: a new one where the gap to the next line is clearly wider than the page's usual line
gap (the median of the smaller half of its gaps, so that a page of two-line paragraphs, where half
the gaps are paragraph gaps, still splits; wider for lines of a larger font), where a new column
or region starts, where a line is indented one to four line heights after the end of a paragraph
(not centred under the line above as a title's second line is, not a list item's hanging
indent), where the font size changes by more than a fifth, where the text turns bold or stops
being bold (a heading is its own paragraph) unless the bold line is a run-in label ("ADDRESSES:")
or goes on in lower case, where a line starts with a bullet or, left of the line above, with a
number ("2. "): a list item, and where a line starts with a run-in label in bold ("DATES: ...").

Hyphenation: a line ending in a hyphen after a letter, followed by a line of the same paragraph
starting with a lower-case letter, is a word broken in two. Whether the hyphen belongs to the word
is decided by the document's own words (those not at such a break), in this order:
1. the hyphenated form occurs in the document ("well-known"): the hyphen stays;
2. the joined form occurs ("information"): joined;
3. the second half occurs as a word of its own ("known"): the hyphen stays ("well-known");
4. otherwise ("infor-" + "mation"): joined.
Either way the word's end moves up a line, so that a word is never cut by a line end.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field

from rag.documents.readers.pdf.layout import Line, join_rows

# PDFium reports a hyphen it takes for a line-end (soft) hyphen as U+FFFE (or U+0002).
SOFT = ("\ufffe", "\x02", "\xad")
HYPHENS = ("-", "\u2010") + SOFT
TABLE_ROWS, TABLE_CELLS = 3, 3  # a paragraph of at least 3 lines, most of them at least 3 cells: a table
BULLETS = ("•", "●", "▪", "◦", "■", "‣", "\uf0b7")  # U+F0B7: the bullet of Symbol fonts
_ENDS = (".", "!", "?", ":", '"', "”", "’", ")")
_NUMBERED = re.compile(r"(\d{1,3}|[a-zA-Z]|[ivxIVX]{1,5})[.)]\s")
_TOKEN = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_TAIL = re.compile(r"[^\W\d_]+$")
_HEAD = re.compile(r"^[^\W\d_]+")
_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
                            "\ufb05": "st", "\ufb06": "st", "\uf0b7": "•"})  # and the Symbol fonts' bullet
_LABEL = re.compile(r"[A-Z][\w .,'’&/()-]{0,50}:(\s|$)")  # a run-in label, in bold where it starts a paragraph
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")
_ODD = re.compile("[\x00-\x08\x0a-\x1f\xad\ufffe\ufb00-\ufb06\uf0b7]")


@dataclass(slots=True)
class Para:
    lines: list[str]
    height: float = 0.0  # the median height of its lines (the font size, give or take)
    bold: bool = False  # every line bold
    rotated: bool = False  # rotated margin text
    page: int = 0  # 1-based, once the document is assembled
    table: bool = False  # rows of cells: each line is a passage, under the first (the head)


def page_paragraphs(lines: list[Line]) -> list[Para]:
    """The page's paragraphs, lines as drawn (hyphens not joined yet)."""
    lines = join_rows(lines)
    if not lines:
        return []
    gaps = sorted(prev.y0 - cur.y1 for prev, cur in zip(lines, lines[1:]) if cur.y1 <= prev.y0 + 0.5 * prev.height)
    size = max(statistics.median(line.height for line in lines), 1.0)
    # The line gap: the median of the smaller half of the gaps. (The median of all of them is a
    # paragraph gap on a page of two- and three-line paragraphs, where half the gaps are.)
    usual = statistics.median(gaps[: (len(gaps) + 1) // 2]) if gaps else size
    if len(gaps) < 3:  # too few to tell the line gap from a paragraph gap: at most half a line
        usual = min(usual, 0.5 * size)
    groups: list[list[Line]] = [[lines[0]]]
    for prev, cur in zip(lines, lines[1:]):
        gap = prev.y0 - cur.y1
        h = max(prev.height, cur.height, 1.0)
        new_para = (
            gap < -0.5 * h  # up the page: the next column or region
            or gap > max(usual * 1.8, usual + 0.6 * size) * max(1.0, min(prev.height, cur.height) / size)  # a wider
            # gap than between lines (of their size: a title's lines stand further apart)
            or _indented(prev, cur, h)  # an indented first line
            or h > 1.2 * min(prev.height, cur.height)  # a change of font size: a heading's edge
            or prev.bold != cur.bold and not _runs_in(prev, cur)  # a bold heading's edge
            or cur.text.startswith(BULLETS)  # a list item
            or cur.x0 < prev.x0 - 0.5 * h and bool(_NUMBERED.match(cur.text))  # the next item of a numbered list
            or cur.lead and not cur.bold and bool(_LABEL.match(cur.text))  # "DATES: The FAA must..."
        )
        if new_para:
            groups.append([cur])
        else:
            groups[-1].append(cur)
    return [
        Para([line.text for line in g], statistics.median(line.height for line in g), all(line.bold for line in g),
             table=len(g) >= TABLE_ROWS and sum(line.cells >= TABLE_CELLS for line in g) >= 0.6 * len(g))
        for g in groups
    ]


def _indented(prev: Line, cur: Line, h: float) -> bool:
    """Whether ``cur`` starts a paragraph by its indent: one to four line heights in from ``prev``'s
    start, not a line centred under it (a title's), and ``prev`` ends a paragraph (a sentence's end,
    or short of the column's edge); not the hanging indent of a list item's second line."""
    centred = abs((cur.x0 + cur.x1) - (prev.x0 + prev.x1)) < h
    ends = prev.text.rstrip().endswith(_ENDS) or prev.x1 < cur.x1 - 2.0 * h
    return prev.x0 + 1.0 * h < cur.x0 <= prev.x0 + 4.0 * h and cur.x0 < prev.x1 and not centred and ends


def _runs_in(prev: Line, cur: Line) -> bool:
    """Whether a bold ``prev`` is a run-in label of the text that goes on in ``cur`` ("ADDRESSES:",
    a sentence in bold going on in lower case)."""
    return prev.bold and (prev.text.rstrip().endswith(":") or cur.text[:1].islower())


def _broken(line: str, nxt: str) -> bool:
    """Whether ``line`` ends in a word broken by a hyphen that ``nxt`` continues."""
    return len(line) >= 2 and line[-1] in HYPHENS and line[-2].isalpha() and nxt[:1].islower()


@dataclass(slots=True)
class Vocabulary:
    """The document's words and hyphenated words, lower-case, those at a line-end break left out."""

    words: set[str] = field(default_factory=set)
    compounds: set[str] = field(default_factory=set)

    def add(self, paras: list[Para]) -> None:
        for para in paras:
            lines = list(para.lines)
            for i in range(len(lines) - 1):
                if _broken(para.lines[i], para.lines[i + 1]):  # the two halves of a broken word are no words
                    lines[i] = lines[i].rpartition(" ")[0]
                    lines[i + 1] = lines[i + 1].partition(" ")[2]
            tokens = _TOKEN.findall("\n".join(lines).lower())
            self.words.update(tokens)
            for t in tokens:
                if "-" in t:
                    self.compounds.add(t)
                    self.words.update(t.split("-"))

    def keeps_hyphen(self, head: str, tail: str) -> bool:
        """Whether ``head`` + "-" + ``tail``, broken at the hyphen, keeps it (rules 1-4 above)."""
        ma, mb = _TAIL.search(head), _HEAD.match(tail)
        a, b = (ma.group().lower() if ma else ""), (mb.group().lower() if mb else "")
        if f"{a}-{b}" in self.compounds:
            return True
        if a + b in self.words:
            return False
        return b in self.words


def join_hyphens(lines: list[str], vocab: Vocabulary) -> list[str]:
    """The paragraph's lines with each broken word whole on the first line (see the module)."""
    out = [lines[0]]
    for cur in lines[1:]:
        last = out[-1]
        if _broken(last, cur):
            word, _, rest = cur.partition(" ")
            keep = vocab.keeps_hyphen(last[:-1], word)
            out[-1] = last[:-1] + ("-" if keep else "") + word
            if rest:
                out.append(rest)
            continue
        out.append(cur)
    return out


def clean(line: str) -> str:
    """A line without the soft-hyphen and control characters PDFs carry (a soft hyphen that ends a
    line the hyphenation join did not take stays as a hyphen), ligatures spelt out ("ﬁ": "fi")."""
    if line.endswith(SOFT):
        line = line[:-1] + "-"
    if _ODD.search(line):  # rare: most lines are clean as they are
        for soft in SOFT:
            line = line.replace(soft, "")
        line = _CONTROL.sub("", line).translate(_LIGATURES)
    return line.rstrip()
