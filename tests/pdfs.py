"""PDFs made in the tests with fpdf2 (text layer, headers, columns) and by hand (hostile files)."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF


class _Paper(FPDF):
    def __init__(self, header_text: str | None, page_numbers: bool) -> None:
        super().__init__()
        self.header_text = header_text
        self.page_numbers = page_numbers
        self.set_auto_page_break(True, margin=20)

    def header(self) -> None:
        if self.header_text:
            self.set_font("helvetica", size=8)
            self.set_y(8)
            self.cell(0, 5, self.header_text, align="C")
            self.set_y(20)

    def footer(self) -> None:
        if self.page_numbers:
            self.set_y(-12)
            self.set_font("helvetica", size=8)
            self.cell(0, 5, str(self.page_no()), align="C")


def paper(pages: list[list[list[str]]], *, header: str | None = None, page_numbers: bool = False,
          columns: int = 1, size: float = 10) -> bytes:
    """A PDF whose page ``p`` has, per column, the given lines, drawn one by one (so the line ends
    are exactly these). ``pages[p][c]`` is column ``c``'s lines. A line "" is a paragraph gap."""
    pdf = _Paper(header, page_numbers)
    pdf.set_font("helvetica", size=size)
    width = (pdf.w - 20) / columns
    for page in pages:
        pdf.add_page()
        pdf.set_font("helvetica", size=size)
        for c, lines in enumerate(page):
            y = 22.0
            for line in lines:
                if line:
                    pdf.set_xy(10 + c * width, y)
                    pdf.cell(width - 8, 5, line)
                y += 5
    return bytes(pdf.output())


def flowing(paragraphs_per_page: list[list[str]], size: float = 11) -> bytes:
    """A plain one-column PDF with fpdf2's own line breaking (multi_cell), a paragraph per call."""
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    for paras in paragraphs_per_page:
        pdf.add_page()
        pdf.set_font("helvetica", size=size)
        for p in paras:
            pdf.multi_cell(0, 6, p, align="L")
            pdf.ln(6)
    return bytes(pdf.output())


def blocks(items: list[tuple[float, str, str]], *, gap: float = 4, title: str | None = None) -> bytes:
    """One page of blocks ``(font size, style, text)`` ("B" bold), each written with fpdf2's line
    breaking at a line height of 1.4 times its size, ``gap`` mm between blocks; ``title`` goes into
    the document's metadata."""
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    if title is not None:
        pdf.set_title(title)
    pdf.add_page()
    y = 20.0
    for size, style, text in items:
        pdf.set_font("helvetica", style, size)
        pdf.set_xy(15, y)
        pdf.multi_cell(180, size * 1.4 * 25.4 / 72, text, align="J")
        y = pdf.get_y() + gap
    return bytes(pdf.output())


def laid_out(pages: list[dict], *, body_size: float = 9) -> bytes:
    """Pages drawn from parts, each optional: ``title`` (full width, 16 pt bold, above the rest),
    ``heading`` (a bold line at the body size, full width, under the title), ``columns`` (each
    column's lines at ``body_size``, drawn row by row across the columns, so that the file's order
    is not the reading order; "" is a paragraph gap), ``table`` (rows of short cells in fixed
    columns under the columns), ``margin`` (a line of text rotated a quarter turn up the left
    margin), ``header`` and ``footer`` (a line at the top or bottom, ``footer_at`` mm from the top, 288 unless
    given; "{page}" becomes the page number). A4, 10 mm margins, 5 mm gutters."""
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    for n, spec in enumerate(pages, start=1):
        pdf.add_page()
        if spec.get("header"):
            pdf.set_font("helvetica", "I", 8)
            pdf.set_xy(10, 6)
            pdf.cell(190, 4, spec["header"].format(page=n), align="C")
        if spec.get("footer"):
            pdf.set_font("helvetica", size=8)
            pdf.set_xy(10, spec.get("footer_at", 288))
            pdf.cell(190, 4, spec["footer"].format(page=n), align="C")
        y = 16.0
        if spec.get("title"):
            pdf.set_font("helvetica", "B", 16)
            pdf.set_xy(10, y)
            pdf.cell(190, 8, spec["title"])
            y += 12
        if spec.get("heading"):
            pdf.set_font("helvetica", "B", body_size)
            pdf.set_xy(10, y)
            pdf.cell(190, 5, spec["heading"])
            y += 7
        cols = spec.get("columns") or []
        if cols:
            width = (190 - 5 * (len(cols) - 1)) / len(cols)
            pdf.set_font("helvetica", size=body_size)
            for row in range(max(len(c) for c in cols)):
                for c, lines in enumerate(cols):
                    if row < len(lines) and lines[row]:
                        pdf.set_xy(10 + c * (width + 5), y + row * 4.5)
                        pdf.cell(width, 4.5, lines[row])
            y += 4.5 * max(len(c) for c in cols) + 6
        for row in spec.get("table") or []:
            pdf.set_font("helvetica", size=body_size)
            for c, cell in enumerate(row):
                pdf.set_xy(10 + 45 * c, y)
                pdf.cell(40, 4.5, cell)
            y += 4.5
        if spec.get("margin"):
            pdf.set_font("helvetica", size=7)
            with pdf.rotation(90, x=6, y=250):
                pdf.text(6, 250, spec["margin"])
    return bytes(pdf.output())


def blank_pages(n: int) -> bytes:
    """A PDF with ``n`` pages and no text at all (a scan without OCR, say)."""
    pdf = FPDF()
    for _ in range(n):
        pdf.add_page()
        pdf.rect(20, 20, 100, 100, style="F")
    return bytes(pdf.output())


def encrypted(text: str) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(0, 10, text)
    pdf.set_encryption(owner_password="owner", user_password="secret")
    return bytes(pdf.output())


def _assemble(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF from numbered objects (1-based, in order) with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def many_pages(n: int) -> bytes:
    """``n`` pages, each with a line of text, written directly (fast: no layout engine)."""
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(n))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i in range(n):
        stream = b"BT /F1 12 Tf 72 720 Td (Page body number %d) Tj ET" % i
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >>"
            b" /Contents %d 0 R >>" % (5 + 2 * i)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    return _assemble(objects)


def deeply_nested(depth: int) -> bytes:
    """One page whose resources hold an array nested ``depth`` deep, and a text line."""
    stream = b"BT /F1 12 Tf 72 720 Td (Nested file text) Tj ET"
    nest = b"[" * depth + b"]" * depth
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /Deep " + nest + b" >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> /X "
        + nest + b" >> /Contents 5 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    return _assemble(objects)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
