"""Plain text (.txt): every paragraph (a run of non-blank lines) is a block, under its heading.

Plain text has no markup, so a heading is recognized by its shape, conservatively:
- an underlined line (``Title`` over ``=====`` or ``-----``, at least three marks), level 1 or 2;
- a short standalone line (a paragraph of one line, at most ``HEADING_MAX_WORDS`` words, with a
  letter, not a list bullet, ending in a letter or digit: not in ``.``, ``:``, ``)``, a quote, an
  arrow...) that is followed by a paragraph of prose (more than one line, or ending a sentence
  with ``.``, ``!``, ``?``), level 3.
A heading is not a block (not a passage of its own): it sets the section path (``"Caring for
Houseplants > Watering"``) of the blocks under it, as in Markdown. The blocks keep their own lines,
so citations are unchanged. A one-line paragraph that ends with punctuation, or that is followed by
another short line (a signature, a caption, page chrome), stays a paragraph.
"""

from __future__ import annotations

import re

from rag.documents.chunking import Paragraph, paragraphs
from rag.documents.document import Block
from rag.documents.readers.base import TextReader

HEADING_MAX_WORDS = 8
HEADING_MAX_CHARS = 70
BARE_LEVEL = 3  # below the underlined headings

_UNDERLINE = re.compile(r"^\s*(=+|-+)\s*$")
_ENDS_PROSE = re.compile(r"[.!?…][\"'”’)\]]*\s*$")
_BULLET = re.compile(r"^\s*(?:[-*•+>]|\d+[.)]\s)")


def _underlined(p: Paragraph) -> int:
    """1 or 2 for a title over a line of ``=`` or ``-`` (at least three), else 0."""
    lines = p.text.split("\n")
    if len(lines) != 2:
        return 0
    m = _UNDERLINE.match(lines[1])
    if not m or len(m.group(1)) < 3 or not lines[0].strip() or len(lines[0].strip()) > HEADING_MAX_CHARS:
        return 0
    return 1 if m.group(1)[0] == "=" else 2


def _heading_like(p: Paragraph) -> bool:
    line = p.text.strip()
    return (
        "\n" not in line
        and len(line) <= HEADING_MAX_CHARS
        and len(line.split()) <= HEADING_MAX_WORDS
        and any(ch.isalpha() for ch in line)
        and line[-1].isalnum()
        and not _BULLET.match(line)
    )


def _prose(p: Paragraph) -> bool:
    text = p.text.strip()
    return "\n" in text or bool(_ENDS_PROSE.search(text))


def text_blocks(text: str) -> list[Block]:
    """The paragraphs of a plain text as blocks, under the section path of their headings."""
    paras = paragraphs(text)
    blocks: list[Block] = []
    headings: list[tuple[int, str]] = []
    for i, p in enumerate(paras):
        level = _underlined(p)
        title = p.text.split("\n")[0].strip()
        if not level and _heading_like(p) and i + 1 < len(paras) and _prose(paras[i + 1]):
            level, title = BARE_LEVEL, p.text.strip()
        if level:
            while headings and headings[-1][0] >= level:
                headings.pop()
            headings.append((level, " ".join(title.split())))
            continue
        blocks.append(Block(p.char_start, p.char_end, " > ".join(t for _, t in headings) or None))
    return blocks


class PlainTextReader(TextReader):
    name = "text"
    extensions = (".txt",)

    def blocks(self, text: str) -> list[Block]:
        return text_blocks(text)
