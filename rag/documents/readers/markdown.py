"""Markdown (.md): prose under its heading path, with the markup taken out, on the file's own lines.

Parsed as CommonMark (plus GFM tables and strikethrough) with markdown-it-py. Decisions:
- The reader's text keeps the file's lines one for one, so every citation (``file:LINE``,
  ``file:START-END``) names the file's own lines. Within the lines of prose, the inline markup is
  taken out: ``**bold**``, ``_em_``, ``~~del~~`` and backticks lose their marks, a link
  ``[text](url)`` reads ``text``, an image reads its alt text, inline HTML tags go, and list
  bullets and ``>`` quote marks go; what is embedded, searched by BM25 and shown is that clean
  text. (Columns, named only for pieces of very long lines, count in that clean line.)
- A heading is not a passage: it sets the section path (``"Setup > Install"``) of what follows.
- Front matter (``---`` YAML or ``+++`` TOML at the very start) is metadata, not text: its
  ``title`` is the document's title; without one, the first level-1 heading is.
- A fenced or indented code block is a passage of its own, its lines kept exactly (the fence
  lines themselves are left out).
- A list is kept together while its items are short; a list with long items is cut between items,
  short neighbours packed together, so that a long item is a passage of its own.
- A table is one block (a row reads its cells apart, ``a | b``); an HTML block is read without its
  tags; a thematic break is nothing.
"""

from __future__ import annotations

import re
import tomllib

from rag.documents.decoding import decode, normalize_newlines
from rag.documents.document import Block, Document
from rag.documents.readers.base import TextReader

LIST_PACK_CHARS = 300  # a list longer than this is cut between items, neighbours packed up to it

_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>", re.S)


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


def front_matter_title(lines: list[str]) -> str | None:
    """The ``title`` of YAML or TOML front matter (``lines`` without the fences), or None."""
    body = "\n".join(lines)
    import yaml  # 13 ms: only for a file with YAML front matter

    try:
        meta = yaml.safe_load(body)
    except yaml.YAMLError:
        meta = None
    if not isinstance(meta, dict):
        try:
            meta = tomllib.loads(body)
        except tomllib.TOMLDecodeError:
            return None
    title = meta.get("title") if isinstance(meta, dict) else None
    if isinstance(title, (str, int, float)) and not isinstance(title, bool):
        return " ".join(str(title).split()) or None
    return None


def _parser():
    from markdown_it import MarkdownIt  # 33 ms: with the first parse, not when the reader is looked up

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


_PARSER = None


def _inline_text(children, soft: str = "\n") -> str:
    """The plain text of an inline token's children: marks, link targets and tags left out."""
    out: list[str] = []
    for c in children or ():
        if c.type in ("text", "code_inline"):
            out.append(c.content)
        elif c.type in ("softbreak", "hardbreak"):
            out.append(soft)
        elif c.type == "image":
            out.append(_inline_text(c.children, soft))
        elif c.type == "html_inline":
            out.append("\n" * c.content.count("\n"))  # a tag is no text, but keeps its line breaks
    return "".join(out)


class MarkdownReader(TextReader):
    name = "markdown"
    extensions = (".md",)

    def parse(self, source: str, data: bytes) -> Document:
        text, warning = decode(data)
        raw = normalize_newlines(text)
        clean, blocks, title = self.read_markdown(raw)
        return Document(source, clean, blocks, warning=warning, title=title)

    def blocks(self, text: str) -> list[Block]:
        return self.read_markdown(text)[1]

    def read_markdown(self, raw: str) -> tuple[str, list[Block], str | None]:
        """(the clean text, line for line with ``raw``; its blocks; the document's title)."""
        global _PARSER
        if _PARSER is None:
            _PARSER = _parser()
        lines = raw.split("\n")
        fm = _front_matter_end(lines)
        title = front_matter_title(lines[1 : fm - 1]) if fm else None
        body = "\n" * fm + "\n".join(lines[fm:])  # front matter lines left blank: line numbers hold
        tokens = _PARSER.parse(body)
        out = list(lines)  # the clean lines

        def put(first: int, n: int, text: str) -> bool:
            got = text.split("\n")
            if len(got) != n:
                return False  # a line break inside a code span or a link: keep the lines as written
            out[first : first + n] = got
            return True

        headings: list[tuple[int, str]] = []
        section: str | None = None
        spans: list[tuple[int, int, str | None]] = []  # 0-based first line, end line (exclusive), section
        list_depth = 0
        list_items: list[tuple[int, int]] = []
        h1 = None
        i = 0
        while i < len(tokens):
            t = tokens[i]
            kind = t.type
            if kind == "inline" and t.map and tokens[i - 1].type in ("paragraph_open", "th_open", "td_open"):
                if tokens[i - 1].type == "paragraph_open":
                    put(t.map[0], t.map[1] - t.map[0], _inline_text(t.children))
            elif kind == "tr_open" and t.map:
                cells, j = [], i + 1
                while tokens[j].type != "tr_close":
                    if tokens[j].type == "inline":
                        cells.append(" ".join(_inline_text(tokens[j].children, " ").split()))
                    j += 1
                put(t.map[0], 1, " | ".join(cells))
            elif kind == "table_open" and t.map:
                if t.map[0] + 1 < len(out):
                    out[t.map[0] + 1] = ""  # the delimiter row |---|---| is no text
                if list_depth == 0:
                    spans.append((t.map[0], t.map[1], section))
            elif kind == "heading_open" and list_depth == 0:
                level = int(t.tag[1:])
                name = " ".join(_inline_text(tokens[i + 1].children, " ").split())
                while headings and headings[-1][0] >= level:
                    headings.pop()
                headings.append((level, name))
                section = " > ".join(n for _, n in headings if n) or None
                if level == 1 and h1 is None and name:
                    h1 = name
            elif kind == "paragraph_open" and list_depth == 0 and t.map:
                spans.append((t.map[0], t.map[1], section))
            elif kind in ("fence", "code_block") and t.map:
                a, b = t.map
                if kind == "fence":
                    a += 1
                    closing = lines[b - 1].strip() if b - 1 >= a else ""
                    if closing and set(closing) == {t.markup[0]} and len(closing) >= len(t.markup):
                        b -= 1
                if list_depth == 0:
                    spans.append((a, b, section))
            elif kind == "html_block" and t.map:
                a, b = t.map
                put(a, b - a, _TAG.sub(lambda m: "\n" * m.group().count("\n"), "\n".join(lines[a:b])))
                if list_depth == 0:
                    spans.append((a, b, section))
            elif kind in ("bullet_list_open", "ordered_list_open"):
                list_depth += 1
                if list_depth == 1:
                    list_items = []
            elif kind == "list_item_open" and list_depth == 1 and t.map:
                list_items.append((t.map[0], t.map[1]))
            elif kind in ("bullet_list_close", "ordered_list_close"):
                list_depth -= 1
                if list_depth == 0:
                    spans.extend((a, b, section) for a, b in self._pack(list_items, out))
            i += 1

        blocks = self._blocks(spans, out)
        return "\n".join(out), blocks, title or h1

    @staticmethod
    def _pack(items: list[tuple[int, int]], out: list[str]) -> list[tuple[int, int]]:
        """A list's items as line ranges: all together when short, else packed up to LIST_PACK_CHARS."""
        size = [sum(len(out[j].strip()) for j in range(a, b)) for a, b in items]
        if sum(size) <= LIST_PACK_CHARS:
            return [(items[0][0], items[-1][1])] if items else []
        packed: list[tuple[int, int]] = []
        cur, cur_size = None, 0
        for (a, b), n in zip(items, size):
            if cur is not None and cur_size + n <= LIST_PACK_CHARS:
                cur, cur_size = (cur[0], b), cur_size + n
            else:
                if cur is not None:
                    packed.append(cur)
                cur, cur_size = (a, b), n
        if cur is not None:
            packed.append(cur)
        return packed

    @staticmethod
    def _blocks(spans: list[tuple[int, int, str | None]], out: list[str]) -> list[Block]:
        starts, offset = [], 0
        for line in out:
            starts.append(offset)
            offset += len(line) + 1
        blocks = []
        for a, b, section in spans:
            b = min(b, len(out))
            while a < b and not out[a].strip():
                a += 1
            while b > a and not out[b - 1].strip():
                b -= 1
            if a < b:
                blocks.append(Block(starts[a], starts[b - 1] + len(out[b - 1]), section))
        return blocks


def heading_text(raw: str) -> str:
    """An ATX heading's content: without the ``#`` marks and surrounding blanks."""
    return re.sub(r"(?:^|[ \t]+)#+$", "", re.sub(r"^ {0,3}#{1,6}", "", raw.strip()).strip()).strip()
