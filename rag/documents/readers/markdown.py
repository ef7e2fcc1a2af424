"""Markdown (.md): paragraphs under their heading path.

Decisions (a reader, not a full CommonMark parser):
- A heading (ATX ``## Title``, or setext: text underlined with ``===``/``---``) is a block of its
  own, as its lines are a paragraph of their own in plain text; it sets the section path
  (``"Setup > Install"``) that it and the following blocks carry as metadata. A heading's words
  stay searchable, and a passage's text stays exactly the file's text at its cited lines; nothing
  is prefixed to it.
- A fenced code block (``` or ~~~) is one block, blank lines included; ``#`` lines inside it are
  not headings. Lines indented by four or more spaces are never headings.
- Front matter (``---`` ... ``---``/``...`` or ``+++`` ... ``+++`` at the very start) is metadata,
  not prose: it is not indexed.
- A thematic break (``***``, ``---``, ``___`` alone) is not a block.
- Every other run of non-blank lines is a block, as in plain text.
"""

from __future__ import annotations

import re

from rag.documents.document import Block
from rag.documents.readers.base import TextReader

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_ATX_CLOSE = re.compile(r"(?:^|[ \t]+)#+$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_BREAK = re.compile(r"^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_NOT_SETEXT_TEXT = re.compile(r"^ {0,3}(?:[-+*][ \t]|\d{1,9}[.)][ \t]|>)")  # list items, quotes


def _front_matter_end(lines: list[str]) -> int:
    """The number of lines of front matter at the start (0 when there is none)."""
    if not lines:
        return 0
    opener = lines[0].rstrip()
    if opener not in ("---", "+++"):
        return 0
    closers = ("---", "...") if opener == "---" else ("+++",)
    for i in range(1, len(lines)):
        if lines[i].rstrip() in closers:
            return i + 1
    return 0


def heading_text(raw: str) -> str:
    """An ATX heading's content: without the closing ``#`` sequence and surrounding blanks."""
    return _ATX_CLOSE.sub("", raw.strip()).strip()


class MarkdownReader(TextReader):
    name = "markdown"
    extensions = (".md",)

    def blocks(self, text: str) -> list[Block]:
        lines = text.split("\n")
        starts = []
        offset = 0
        for line in lines:
            starts.append(offset)
            offset += len(line) + 1

        def end_of(i: int) -> int:
            return starts[i] + len(lines[i])

        out: list[Block] = []
        headings: list[tuple[int, str]] = []  # (level, title), outermost first
        section: str | None = None
        block: list[int] = []  # line numbers (0-based) of the open block
        fence: tuple[str, int] | None = None  # the open fence's character and length

        def set_heading(level: int, title: str) -> None:
            nonlocal section
            while headings and headings[-1][0] >= level:
                headings.pop()
            headings.append((level, title))
            section = " > ".join(t for _, t in headings if t) or None

        def close() -> None:
            if block:
                last = block[-1]
                while last > block[0] and not lines[last].strip():
                    last -= 1  # an unclosed fence ends at its last non-blank line
                out.append(Block(starts[block[0]], end_of(last), section))
                block.clear()

        for i in range(_front_matter_end(lines), len(lines)):
            line = lines[i]
            if fence is not None:
                block.append(i)
                m = _FENCE.match(line)
                if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= fence[1] and not m.group(2).strip():
                    fence = None
                    close()
                continue
            if not line.strip():
                close()
                continue
            m = _FENCE.match(line)
            if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
                close()
                fence = (m.group(1)[0], len(m.group(1)))
                block.append(i)
                continue
            m = _ATX.match(line)
            if m:
                close()
                set_heading(len(m.group(1)), heading_text(m.group(2) or ""))
                out.append(Block(starts[i], end_of(i), section))
                continue
            m = _SETEXT.match(line)
            if m and block and not _NOT_SETEXT_TEXT.match(lines[block[0]]):
                title = " ".join(" ".join(lines[j].strip() for j in block).split())
                first = block[0]
                block.clear()  # the underlined lines are the heading: a block under its own path
                set_heading(1 if m.group(1)[0] == "=" else 2, title)
                out.append(Block(starts[first], end_of(i), section))
                continue
            if _BREAK.match(line):
                close()
                continue
            block.append(i)
        close()
        return out
