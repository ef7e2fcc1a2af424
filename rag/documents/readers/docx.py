"""Word documents (.docx): paragraphs, headings, lists and tables, in document order, with python-docx.

The document's text has one line per paragraph of the body, so that **line N is paragraph N**:
the body's paragraphs (empty ones and headings included) and table rows, counted in document order,
each table row counting as one paragraph. A citation ``report.docx:12`` is the twelfth paragraph;
``report.docx:12-14`` paragraphs 12 to 14. Within a paragraph, line breaks and tabs become spaces
(so it stays one line). A table row is its cells' text joined by `` | `` (a cell spanning several
columns once).

- A heading (style ``Heading 1``-``Heading 9``) is not a block: it sets the section path
  (``"Results > Costs"``) of the paragraphs under it. A ``Title`` paragraph is the title only.
- A run of list paragraphs (a list style or numbering) is one block; a table is one block (its
  rows); every other non-empty paragraph is a block.
- The title is the document's core property ``title``, else its ``Title`` paragraph.

Before parsing, the ZIP directory is checked: a corrupt archive, one that is not a Word document,
or one whose declared uncompressed size is too large (a zip bomb) is skipped with the reason.
Reading never inflates more than the declared sizes (Python's zipfile stops there).
"""

from __future__ import annotations

import io
import re
import zipfile

from rag.documents.decoding import SkipFile, human_size
from rag.documents.document import Block, Document
from rag.documents.readers.base import Reader

# Uncompressed limits, from the ZIP directory, checked before anything is inflated.
MAX_DOCX_UNCOMPRESSED = 256 * 1024 * 1024  # all members together
MAX_DOCX_XML = 64 * 1024 * 1024  # word/document.xml alone
MAX_DOCX_MEMBERS = 10_000

_HEADING = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_WS = re.compile(r"\s+")


def _one_line(s: str) -> str:
    return _WS.sub(" ", s).strip()


def check_zip(data: bytes) -> None:
    """Raise :class:`SkipFile` unless ``data`` is a ZIP archive of a Word document of a sane size."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise SkipFile(f"not a valid DOCX (damaged ZIP archive: {_one_line(str(exc))[:80]})") from None
    if len(infos) > MAX_DOCX_MEMBERS:
        raise SkipFile(f"DOCX archive holds {len(infos)} files (limit {MAX_DOCX_MEMBERS}); not indexed")
    total = sum(i.file_size for i in infos)
    if total > MAX_DOCX_UNCOMPRESSED:
        raise SkipFile(
            f"DOCX expands to {human_size(total)} (limit {human_size(MAX_DOCX_UNCOMPRESSED)}); "
            "possibly a zip bomb, not indexed"
        )
    main = [i for i in infos if i.filename == "word/document.xml"]
    if not main:
        raise SkipFile("not a Word document (no word/document.xml in the archive)")
    if main[0].file_size > MAX_DOCX_XML:
        raise SkipFile(
            f"DOCX text part expands to {human_size(main[0].file_size)} (limit {human_size(MAX_DOCX_XML)}); not indexed"
        )


def _heading_level(style_name: str) -> int | None:
    if style_name.lower() == "title":
        return 0
    m = _HEADING.match(style_name)
    return int(m.group(1)) if m else None


def _is_list(paragraph, style: str) -> bool:
    if style.lower().startswith("list"):
        return True
    ppr = paragraph._p.pPr
    return ppr is not None and ppr.numPr is not None


def _style_names(d) -> dict[str, str]:
    """Style id -> style name, read once (python-docx's ``paragraph.style`` scans every style per call)."""
    names = {}
    for el in d.styles.element.style_lst:
        if el.styleId:
            names[el.styleId] = el.name_val or el.styleId
    return names


def _row_text(row) -> str:
    cells, seen = [], set()
    for cell in row.cells:
        if id(cell._tc) in seen:  # a merged cell is listed once per column it spans
            continue
        seen.add(id(cell._tc))
        cells.append(_one_line(cell.text))
    return " | ".join(cells) if any(cells) else ""


class DocxReader(Reader):
    name = "docx"
    extensions = (".docx",)
    isolated = True  # parsed in a worker within a time/memory budget (rag/documents/readers/budget.py)

    def parse(self, source: str, data: bytes) -> Document:
        check_zip(data)
        import docx  # imported on first use
        from docx.opc.exceptions import OpcError
        from docx.table import Table
        from lxml.etree import LxmlError

        try:
            d = docx.Document(io.BytesIO(data))
            items = list(d.iter_inner_content())
            style_names = _style_names(d)
            core_title = d.core_properties.title
        except (OpcError, LxmlError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise SkipFile(f"not a readable DOCX ({type(exc).__name__}: {_one_line(str(exc))[:80]})") from None

        lines: list[str] = []
        blocks: list[Block] = []
        starts: list[int] = []  # offset of each line
        headings: list[tuple[int, str]] = []
        title = _one_line(core_title or "") or None
        offset = 0
        open_list: list[int] = []  # line numbers of the list being read

        def add(line: str) -> int:
            nonlocal offset
            starts.append(offset)
            lines.append(line)
            offset += len(line) + 1
            return len(lines) - 1

        def section() -> str | None:
            return " > ".join(t for _, t in headings) or None

        def block(first: int, last: int) -> None:
            blocks.append(Block(starts[first], starts[last] + len(lines[last]), section()))

        def close_list() -> None:
            if open_list:
                block(open_list[0], open_list[-1])
                open_list.clear()

        for item in items:
            if isinstance(item, Table):
                close_list()
                rows = [add(_row_text(r)) for r in item.rows]
                nonblank = [i for i in rows if lines[i]]
                if nonblank:
                    block(nonblank[0], nonblank[-1])
                continue
            text = _one_line(item.text)
            i = add(text)
            if not text:
                continue  # an empty paragraph does not end a list: Word users space lists with them
            style_id = item._p.style
            style = style_names.get(style_id, style_id) if style_id else ""
            level = _heading_level(style)
            if level is not None:
                close_list()
                if level == 0:  # the Title paragraph names the document; it is not a section
                    title = title or text
                    continue
                while headings and headings[-1][0] >= level:
                    headings.pop()
                headings.append((level, text))
                continue
            if _is_list(item, style):
                open_list.append(i)
                continue
            close_list()
            block(i, i)
        close_list()
        if not blocks:
            raise SkipFile("no text (an empty Word document)")
        return Document(source, "\n".join(lines), blocks, title=title)
