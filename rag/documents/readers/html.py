"""HTML (.html, .htm): the page's main content, found by trafilatura, under its heading path.

Decisions:
- trafilatura finds the main content (not navigation, ads, cookie banners, comment forms) and hands
  it over as its XML tree (``head``, ``p``, ``list``/``item``, ``table``/``row``/``cell``, ``quote``,
  ``code``, ``lb``). Fast mode (no comparison with readability/justext) and no metadata pass: those
  cost more than the extraction itself; the title is read from the page here. The output format
  is "txt", so that trafilatura does not also serialize the body as text (about a tenth of its
  time; only the body tree is used).
- The document's text is that content written as plain lines, one blank line between blocks: a
  paragraph's lines (``<br>`` starts a new line), a heading on a line of its own, one line per list
  item, one line per table row with its cells joined by `` | ``, a code block's lines. Inline markup
  (bold, links, inline code) is dropped; only the words stay. Citations name lines of this text
  (what the source view shows, read back through this reader) and the heading path.
- A heading is not a block (not a passage of its own): it sets the section path
  (``"Guide > Install"``) of the blocks under it, by its level (h1-h6).
- Every paragraph, list, table, quote and code block is one block.
- The extraction is deterministic for the same bytes (no URL, no deduplication cache), so that a
  citation read back names the same text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rag.documents.decoding import SkipFile, human_size
from rag.documents.document import Block, Document
from rag.documents.readers.base import Reader

# A page larger than this is not parsed: trafilatura reads about 1-2 MB/s here (bench/ingest_html_docx.py),
# so the budget keeps one file to a few seconds. A saved article is rarely above 1 MB.
MAX_HTML_BYTES = 8 * 1024 * 1024

_BLOCK_TAGS = frozenset({"p", "head", "list", "item", "table", "row", "cell", "quote", "code", "div", "main"})


def _collapse(s: str) -> str:
    return " ".join(s.split())


def _inline(el, parts: list[str], skip: frozenset[str] = frozenset()) -> None:
    """The text of ``el`` and its descendants into ``parts``: ``lb`` and block children start new lines."""
    if el.text:
        parts.append(el.text)
    for child in el:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag in skip:
            pass
        elif tag == "lb":
            parts.append("\n")
        elif tag in ("graphic",):
            pass
        elif tag in _BLOCK_TAGS:
            parts.append("\n")
            _inline(child, parts, skip)
            parts.append("\n")
        elif tag:
            _inline(child, parts, skip)
        if child.tail:
            parts.append(child.tail)


def _lines(el, skip: frozenset[str] = frozenset()) -> list[str]:
    """The non-empty lines of ``el``'s text, whitespace collapsed."""
    parts: list[str] = []
    _inline(el, parts, skip)
    return [line for line in (_collapse(s) for s in "".join(parts).split("\n")) if line]


def _list_lines(el) -> list[str]:
    """One line per item; a nested list's items follow their item's own line."""
    out: list[str] = []
    for item in el:
        if item.tag != "item":
            continue
        text = _collapse(" ".join(_lines(item, frozenset({"list"}))))
        if text:
            out.append(text)
        for sub in item.iter("list"):
            if sub is not item and sub.getparent() is item:
                out += _list_lines(sub)
    return out


def _table_lines(el) -> list[str]:
    out = []
    for row in el.iter("row"):
        cells = [_collapse(" ".join(_lines(c))) for c in row if c.tag == "cell"]
        if any(cells):
            out.append(" | ".join(cells))
    return out


def _heading_level(el) -> int:
    rend = el.get("rend") or ""
    if len(rend) == 2 and rend[0] == "h" and rend[1] in "123456":
        return int(rend[1])
    return 2


def _elements(body) -> Iterator[tuple[str, list[str], int]]:
    """``(kind, lines, heading level)`` for each block-level element of trafilatura's body, in order."""
    for el in body:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag == "head":
            yield "head", [_collapse(" ".join(_lines(el)))], _heading_level(el)
        elif tag == "list":
            yield "block", _list_lines(el), 0
        elif tag == "table":
            yield "block", _table_lines(el), 0
        elif tag == "code":
            code = "".join(el.itertext())
            yield "block", [line.rstrip() for line in code.split("\n") if line.strip()], 0
        elif tag in ("div", "main", "section", "article"):
            if el.text and el.text.strip():
                yield "block", _lines_of_text(el.text), 0
            yield from _elements(el)
            if el.tail and el.tail.strip():
                yield "block", _lines_of_text(el.tail), 0
        elif tag:
            yield "block", _lines(el), 0


def _lines_of_text(s: str) -> list[str]:
    return [line for line in (_collapse(x) for x in s.split("\n")) if line]


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not text, and not allowed by lxml


def parse_html(data: bytes):
    """The page's tree: UTF-8 (or with a byte-order mark) decoded here, any other encoding left to
    libxml2, which honours the page's ``<meta charset>``. A fragment is read as a page. Control
    characters are removed. (trafilatura's own loader is not used: it inflates gzip data and rejects
    pages whose first 50 characters lack "html".)"""
    # lxml loads in the parsing worker (isolated), not when the reader is looked up.
    import lxml.html
    from lxml import etree

    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, collect_ids=False, default_doctype=False)
    try:
        text = data.decode("utf-8-sig") if not data.startswith((b"\xff\xfe", b"\xfe\xff")) else data.decode("utf-16")
    except UnicodeDecodeError:
        text = None
    tree = None
    try:
        if text is not None:
            try:
                tree = lxml.html.document_fromstring(_CONTROLS.sub("", text), parser=parser)
            except ValueError:  # a str with an XML encoding declaration: parse the bytes
                pass
        if tree is None:
            raw = _CONTROLS.sub("", data.decode("latin-1")).encode("latin-1")
            tree = lxml.html.document_fromstring(raw, parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError) as exc:
        raise SkipFile(f"not readable as HTML ({_collapse(str(exc))[:120]})") from None
    for err in parser.error_log:
        if err.type_name == "ERR_RESOURCE_LIMIT":  # libxml2 stopped reading: the rest would be lost
            raise SkipFile(f"HTML beyond the parser's limits ({_collapse(err.message.split(',')[0])[:100]}); not read")
    return tree


def page_title(tree) -> str | None:
    """The page's title: ``og:title``, else ``<title>``, else its first ``<h1>``; None when none."""
    for xpath in ('//meta[@property="og:title"]/@content', "//head/title//text()", "//title//text()", "//h1//text()"):
        try:
            found = tree.xpath(xpath)
        except ValueError:
            continue
        title = _collapse(" ".join(str(x) for x in found[:20]))
        if title:
            return title[:300]
    return None


class HtmlReader(Reader):
    name = "html"
    extensions = (".html", ".htm")
    isolated = True  # parsed in a worker within a time/memory budget (rag/documents/readers/budget.py)

    def parse(self, source: str, data: bytes) -> Document:
        if len(data) > MAX_HTML_BYTES:
            raise SkipFile(
                f"HTML page larger than the {human_size(MAX_HTML_BYTES)} limit for pages; save the article alone"
            )
        if not data.strip():
            raise SkipFile("empty file")
        from trafilatura import bare_extraction  # imported on first use: it takes a while

        try:
            tree = parse_html(data)
            title = page_title(tree)
            result = bare_extraction(
                tree,
                fast=True,
                include_comments=False,
                include_tables=True,
                include_images=False,
                include_formatting=False,
                include_links=False,
                with_metadata=False,
                deduplicate=False,
                output_format="txt",  # not "python": that also writes the body out as text, unused here
                config=_config(),
            )
        except RecursionError:
            raise SkipFile("HTML nested too deeply to read") from None
        except ValueError as exc:  # lxml's refusals (a document it cannot build)
            raise SkipFile(f"not readable as HTML ({_collapse(str(exc))[:120]})") from None
        body = getattr(result, "body", None)
        if body is None:
            raise SkipFile("no main content found in the HTML page")
        return _document(source, body, title)


def _document(source: str, body, title: str | None) -> Document:
    pieces: list[str] = []  # the text of each block and heading, joined by blank lines
    blocks: list[Block] = []
    headings: list[tuple[int, str]] = []
    offset = 0

    def put(block_lines: list[str]) -> tuple[int, int]:
        nonlocal offset
        start = offset + 2 if pieces else 0  # after the newline and the blank line
        piece = "\n".join(block_lines)
        pieces.append(piece)
        offset = start + len(piece)
        return start, offset

    try:
        for kind, block_lines, level in _elements(body):
            block_lines = [line for line in block_lines if line]
            if not block_lines:
                continue
            if kind == "head":
                while headings and headings[-1][0] >= level:
                    headings.pop()
                headings.append((level, block_lines[0]))
                put(block_lines)
                continue
            section = " > ".join(t for _, t in headings) or None
            a, b = put(block_lines)
            blocks.append(Block(a, b, section))
    except RecursionError:
        raise SkipFile("HTML nested too deeply to read") from None
    if not blocks:
        raise SkipFile("no main content found in the HTML page")
    return Document(source, "\n\n".join(pieces), blocks, title=title)


_CONFIG = None


def _config():
    """trafilatura's settings: no minimum length (a short page keeps its headings), no size cap of
    its own (ours is ``MAX_HTML_BYTES``)."""
    global _CONFIG
    if _CONFIG is None:
        from trafilatura.settings import use_config  # in the parsing worker, as in HtmlReader.parse

        cfg = use_config()
        cfg.set("DEFAULT", "MIN_EXTRACTED_SIZE", "1")
        cfg.set("DEFAULT", "MIN_OUTPUT_SIZE", "1")
        _CONFIG = cfg
    return _CONFIG
