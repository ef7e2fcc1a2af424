"""Headings by font size and weight, and the section path they give the paragraphs under them.

The body size is the line height most of the document's lines have (rounded to half a point). A
paragraph is a heading when it is short (at most three lines and ``MAX_WORDS`` words, mostly
letters, starting with a letter or digit, not ending with a full stop, comma or semicolon) and either larger than the body (by ``LARGER``) or
all bold where the body is not. Its level comes from its size: the largest headings are level 1,
the next size level 2 (sizes within 4% are one), and bold headings at the body size come last.
Where the file has an outline (bookmarks), a paragraph whose text is an entry's title on the
entry's page ("Results", or "3 Results" with its number) is a heading at the entry's level, above
the levels the fonts give. A heading is not a passage
of its own: it sets the section path (``"Results > Sea ice"``) of the paragraphs under it, across
pages, as in Markdown. A heading with nothing under it (the next paragraph is a heading of the
same or a higher level, or there is none) stays a paragraph.
"""

from __future__ import annotations

from collections import Counter

from rag.documents.readers.pdf.paragraphs import Para

LARGER = 1.15
SAME_SIZE = 0.04
MAX_WORDS = 20
MAX_TITLE = 200


def _size(h: float) -> float:
    return round(h * 2) / 2


def _heading_like(p: Para) -> bool:
    text = " ".join(p.lines).strip()
    dense = text.replace(" ", "")
    return (
        not p.rotated
        and len(p.lines) <= 3
        and len(text.split()) <= MAX_WORDS
        and text[:1].isalnum()
        and sum(ch.isalpha() for ch in dense) >= 0.6 * len(dense)  # words, not a URL or a number
        and not text.endswith((".", ",", ";"))
    )


def _ranks(sizes: set[float]) -> dict[float, int]:
    """Heading sizes to levels, largest first; sizes within ``SAME_SIZE`` of the one above share
    its level (two renderings of one heading font differ by a fraction of a point)."""
    out: dict[float, int] = {}
    level, top = 0, None
    for s in sorted(sizes, reverse=True):
        if top is None or s < top * (1 - SAME_SIZE):
            level, top = level + 1, s
        out[s] = level
    return out


def _outline_key(text: str) -> str:
    return " ".join(text.lower().split())


def _outline_level(p: Para, outline: dict[int, dict[str, int]]) -> int:
    """The level (1 for the top) of the outline entry this paragraph is the heading of, else 0:
    its text is the entry's title, or ends with it after a section number ("2.1 Results")."""
    titles = outline.get(p.page)
    if not titles or len(p.lines) > 3:
        return 0
    text = _outline_key(" ".join(p.lines))
    if text in titles:
        return titles[text]
    head, _, rest = text.partition(" ")
    if rest in titles and head.rstrip(".").replace(".", "").isalnum() and len(head) <= 8:
        return titles[rest]
    return 0


def sections(paras: list[Para], outline: dict[int, dict[str, int]] | None = None) -> list[tuple[bool, str | None]]:
    """For each paragraph of the document, in order: whether it is a block (not a heading), and the
    section path it lies under (a heading's own is the path above it). ``outline``: the file's
    bookmarks, page number to title (lower case, blanks collapsed) to level (1 for the top)."""
    weights: Counter[float] = Counter()
    bold_weight = 0
    for p in paras:
        n = sum(len(line) for line in p.lines)
        weights[_size(p.height)] += n
        bold_weight += n if p.bold else 0
    if not weights:
        return []
    body = weights.most_common(1)[0][0]
    body_bold = bold_weight > 0.5 * sum(weights.values())
    marked = [_outline_level(p, outline or {}) for p in paras]
    depth = max(marked, default=0)
    levels: list[float | None] = []
    for p, m in zip(paras, marked):
        size = _size(p.height)
        if m or not (_heading_like(p) and (size >= body * LARGER or (p.bold and not body_bold and size >= body))):
            levels.append(None)
        else:
            levels.append(size if size >= body * LARGER else body)
    ranks = _ranks({s for s in levels if s is not None})
    # Where the outline names a heading, its level; the headings the fonts show come below them.
    level = [m or (ranks[s] + depth if s is not None else 0) for m, s in zip(marked, levels)]
    for i, lv in enumerate(level):  # a heading with nothing under it is a paragraph
        if lv and (i + 1 == len(level) or 0 < level[i + 1] <= lv):
            level[i] = 0
    out: list[tuple[bool, str | None]] = []
    path: list[tuple[int, str]] = []
    for p, lv in zip(paras, level):
        if not lv:
            out.append((True, " > ".join(t for _, t in path) or None))
            continue
        out.append((False, " > ".join(t for _, t in path) or None))
        while path and path[-1][0] >= lv:
            path.pop()
        path.append((lv, " ".join(" ".join(p.lines).split())[:MAX_TITLE]))
    return out
