"""PDF (.pdf, text layer only): pages of text in reading order, paragraphs as blocks under the
headings the fonts show.

Read with pypdfium2 (PDFium, Apache-2.0/BSD), in steps of one module each:
- :mod:`.chars`: PDFium's characters into runs (pieces of lines with their box, size and weight);
  rotated margin text set apart as lines of its own, never one letter per line.
- :mod:`.layout`: reading order by a recursive XY cut, columns of prose first, tables row by row.
- :mod:`.furniture`: running headers, footers and page numbers found across pages and left out.
- :mod:`.paragraphs`: lines into paragraphs; words broken at line ends joined where the result is a
  word (the document's own words decide: "infor-mation" joined, "well-known" kept).
- :mod:`.headings`: larger or bold short paragraphs are headings: each block's ``section``.
A table (a paragraph of rows of three cells or more) is a block a row, each under its head row.
Pages: the document's text is its pages joined by newlines (``page_starts``); lines are counted
within the page; every block lies within one page, so no passage spans pages, and a citation
``file.pdf:pN:a-b`` read back through this reader holds the passage. The title is the one in the
file's metadata (``Title``), or None. A file with no text on any page is skipped ("no text layer;
OCR is not supported"); an encrypted one that needs a password likewise; more than ``MAX_PAGES``
pages, likewise.
"""

from __future__ import annotations

from rag.documents.decoding import SkipFile
from rag.documents.document import Block, Document
from rag.documents.readers.base import Reader
from rag.documents.readers.pdf.chars import page_runs
from rag.documents.readers.pdf.furniture import Page, drop_furniture
from rag.documents.readers.pdf.headings import sections
from rag.documents.readers.pdf.layout import page_lines
from rag.documents.readers.pdf.paragraphs import Para, Vocabulary, clean, join_hyphens, page_paragraphs

MAX_PAGES = 3000  # at 30-40 pages/s here, about the time budget (Budget.seconds)
NO_TEXT = "no text layer; OCR is not supported"

__all__ = ["MAX_PAGES", "NO_TEXT", "PdfReader"]


class PdfReader(Reader):
    name = "pdf"
    extensions = (".pdf",)
    isolated = True

    def parse(self, source: str, data: bytes) -> Document:
        import pypdfium2 as pdfium  # in the parsing worker (isolated): looking the reader up loads no pdfium

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
        pages: list[Page] = []
        for i in range(n):
            page = pdf[i]
            try:
                textpage = page.get_textpage()
                try:
                    width, height = page.get_width(), page.get_height()
                    runs = page_runs(textpage, width, height)
                    pages.append(Page(page_lines(runs.runs), width if runs.turned % 2 else height, runs.rotated))
                finally:
                    textpage.close()
            finally:
                page.close()
        if not any(p.lines or p.rotated for p in pages):
            raise SkipFile(NO_TEXT)
        paras = [_paragraphs(p) for p in drop_furniture(pages)]
        text, starts, blocks = _assemble(paras, _outline(pdf))
        warning = None
        empty = sum(1 for ps in paras if not ps)
        if blocks and empty > n / 2:  # a blank page or two is normal; most pages blank is a scan
            warning = f"{empty} of {n} pages have no text layer (OCR is not supported)"
        return Document(source, text, blocks, page_starts=tuple(starts), warning=warning, title=_title(pdf))


def _paragraphs(page: Page) -> list[Para]:
    return page_paragraphs(page.lines) + [Para([t], rotated=True) for t in page.rotated]


def _outline(pdf, limit: int = 2000) -> dict[int, dict[str, int]]:
    """The file's bookmarks: page number (1-based) to title (lower case, blanks collapsed) to level
    (1 for the top); at most ``limit`` of them."""
    import pypdfium2 as pdfium  # in the parsing worker, as in PdfReader.parse

    out: dict[int, dict[str, int]] = {}
    try:
        for n, item in enumerate(pdf.get_toc()):
            if n >= limit:
                break
            dest = item.get_dest()
            page = dest.get_index() if dest is not None else None
            title = " ".join(clean(item.get_title() or "").lower().split())
            if page is not None and title:
                out.setdefault(page + 1, {}).setdefault(title, item.level + 1)
    except pdfium.PdfiumError:
        return {}
    return out


def _assemble(pages: list[list[Para]], outline: dict[int, dict[str, int]] | None = None) -> tuple[str, list[int], list[Block]]:
    """The document's text (a page's paragraphs separated by a blank line, pages by a newline), the
    offset where each page starts, and its blocks with their sections (headings from the fonts and
    from ``outline``)."""
    vocab = Vocabulary()
    for paras in pages:
        vocab.add(paras)
    for paras in pages:
        for p in paras:
            p.lines = [line for line in (clean(t) for t in join_hyphens(p.lines, vocab)) if line.strip()]
        paras[:] = [p for p in paras if p.lines]
    for number, paras in enumerate(pages, start=1):
        for p in paras:
            p.page = number
    flat = [p for paras in pages for p in paras]
    kinds = iter(sections(flat, outline))
    texts, starts, blocks, offset = [], [], [], 0
    for paras in pages:
        starts.append(offset)
        parts = []
        at = offset
        for p in paras:
            is_block, section = next(kinds)
            body = "\n".join(p.lines)
            if is_block and p.table:
                blocks += _rows(p.lines, at, section)
            elif is_block:
                blocks.append(Block(at, at + len(body), section))
            parts.append(body)
            at += len(body) + 2
        page_text = "\n\n".join(parts)
        texts.append(page_text)
        offset += len(page_text) + 1
    return "\n".join(texts), starts, blocks


def _rows(lines: list[str], at: int, section: str | None) -> list[Block]:
    """A table's rows as blocks from offset ``at``: the first (its head) under ``section``, each
    other under ``section > head``, so that a row is found, and read, with its columns' names."""
    head = " ".join(lines[0].split())[:200]
    under = f"{section} > {head}" if section else head
    out = []
    for i, line in enumerate(lines):
        out.append(Block(at, at + len(line), section if i == 0 else under))
        at += len(line) + 1
    return out


def _title(pdf) -> str | None:
    """The document's title from its metadata (the Info dictionary's ``Title``), whitespace
    collapsed and control characters out; None when it has none."""
    import pypdfium2 as pdfium  # in the parsing worker, as in PdfReader.parse

    try:
        raw = pdf.get_metadata_dict(skip_empty=True).get("Title")
    except pdfium.PdfiumError:
        return None
    title = " ".join(clean(" ".join((raw or "").split())).split())
    return title[:300] or None
