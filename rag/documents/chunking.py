"""From a document's blocks to passages: one passage per block, long blocks split.

A block longer than the model's window is split into several passages at sentence boundaries
(and, for a single over-long sentence, at spaces), each citing its own location, so nothing is
silently truncated away. A block whose text already appeared in the same section of the file is
dropped (the first place is cited), and so is a block of web-page chrome
(:mod:`rag.documents.boilerplate`).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from rag.documents.boilerplate import is_boilerplate
from rag.documents.document import Block, Document
from rag.documents.headers import with_header
from rag.documents.sentences import sentence_spans
from rag.types import Passage

TokenEnds = Callable[[str], list[int]]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Paragraph:
    number: int  # 1-based within the file
    line_start: int  # 1-based
    line_end: int  # inclusive
    char_start: int
    char_end: int
    text: str


def paragraphs(text: str) -> list[Paragraph]:
    """Blocks of non-blank lines of ``text`` (already newline-normalized)."""
    out: list[Paragraph] = []
    offset = 0
    start_line = start_char = -1
    lines = text.split("\n")
    for i, line in enumerate(lines):
        blank = not line.strip()
        if not blank and start_line < 0:
            start_line, start_char = i, offset
        if blank and start_line >= 0:
            end_char = offset - 1  # the newline before this line
            out.append(Paragraph(len(out) + 1, start_line + 1, i, start_char, end_char, text[start_char:end_char]))
            start_line = -1
        offset += len(line) + 1
    if start_line >= 0:
        end_char = len(text)
        out.append(
            Paragraph(len(out) + 1, start_line + 1, len(lines), start_char, end_char, text[start_char:end_char])
        )
    return out


def _split_spans(text: str, ends: list[int], limit: int) -> list[tuple[int, int]]:
    """Cut ``text`` into spans of at most ``limit`` word-pieces, at sentence ends where possible."""

    def count(a: int, b: int) -> int:
        return bisect_right(ends, b) - bisect_right(ends, a)

    def hard_split(a: int, b: int) -> list[tuple[int, int]]:
        pieces = []
        while a < b:
            if count(a, b) <= limit:
                pieces.append((a, b))
                break
            first = bisect_right(ends, a)
            cut = min(ends[first + limit - 1], b)
            ws = min(cut, len(text) - 1)
            while ws > a and not text[ws].isspace():
                ws -= 1
            if ws > a:
                cut = ws
            piece_end = cut
            while piece_end > a and text[piece_end - 1].isspace():
                piece_end -= 1
            pieces.append((a, piece_end))
            a = cut
            while a < b and text[a].isspace():
                a += 1
        return pieces

    spans: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    for a, b in sentence_spans(text):
        if count(a, b) > limit:
            if cur:
                spans.append(cur)
                cur = None
            spans.extend(hard_split(a, b))
            continue
        if cur is None:
            cur = (a, b)
        elif count(cur[0], b) <= limit:
            cur = (cur[0], b)
        else:
            spans.append(cur)
            cur = (a, b)
    if cur:
        spans.append(cur)
    return spans


def paragraph_blocks(text: str) -> list[Block]:
    """The paragraphs of a plain text as blocks (no sections)."""
    return [Block(p.char_start, p.char_end) for p in paragraphs(text)]


def chunk(
    doc: Document,
    *,
    token_ends: TokenEnds | None = None,
    max_tokens: int | None = None,
) -> list[Passage]:
    """The passages of one document, each citing its location through ``doc``'s location map.

    With ``token_ends`` and ``max_tokens`` (word-pieces, special tokens excluded), blocks longer
    than the window are split.
    """
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, not {max_tokens}")
    out: list[Passage] = []
    seen: set[tuple[str | None, str]] = set()
    for number, block in enumerate(doc.blocks, start=1):
        text = doc.text[block.char_start : block.char_end]
        key = (block.section, " ".join(text.split()))
        if key in seen or is_boilerplate(text):  # page chrome ("Leave a Reply") is not indexed
            continue
        seen.add(key)
        spans = [(0, len(text))]
        if token_ends is not None and max_tokens is not None:
            ends = token_ends(text)
            if len(ends) > max_tokens:
                spans = _split_spans(text, ends, max_tokens)
        for a, b in spans:
            piece = text[a:b]
            start, end = block.char_start + a, block.char_start + b
            loc, col_start = doc.location(start, end, block.section)
            out.append(
                Passage(
                    text=piece,
                    source=doc.source,
                    line_start=loc.line_start,
                    line_end=loc.line_end,
                    paragraph=number,
                    char_start=start,
                    char_end=end,
                    hash=text_hash(with_header(piece, doc.title, loc.section)),  # of what is embedded
                    col_start=col_start,
                    col_end=loc.col_end,
                    page=loc.page,
                    section=loc.section,
                    title=doc.title,
                )
            )
    return out


def passages_of(
    source: str,
    text: str,
    *,
    token_ends: TokenEnds | None = None,
    max_tokens: int | None = None,
) -> list[Passage]:
    """The passages of a decoded, newline-normalized plain text (paragraphs, no sections)."""
    return chunk(Document(source, text, paragraph_blocks(text)), token_ends=token_ends, max_tokens=max_tokens)
