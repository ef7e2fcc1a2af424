"""Ingest speed of the PDF reader: pages per second on a generated paper.

Writes a ``--pages``-page PDF with fpdf2 (default 200; dense two-column pages of ordinary
sentences, a running header and page numbers, about 4,000 characters a page), then reads it as a
build does: in the budget's worker process (``Reader.load``: parse, plus the trip of the bytes and
the document between processes) and in this process (``Reader.parse``), best of ``--repeat`` runs.
With ``--pypdf`` it also times pypdf's ``extract_text`` on the same file, when pypdf is importable
(it is not a dependency: install it into a scratch folder and put that on PYTHONPATH).

    PYTHONPATH=$PWD .venv/bin/python bench/ingest_formats.py
    PYTHONPATH=$PWD:/tmp/pypdf .venv/bin/python bench/ingest_formats.py --pypdf

The issue's target is at least 20 pages/s.
"""

from __future__ import annotations

import argparse
import io
import random
import time

import pypdfium2 as pdfium
from fpdf import FPDF

from harness import best_of, load_line
from rag.documents.chunking import chunk
from rag.documents.readers.pdf import PdfReader

WORDS = (
    "the harbour holds forty ships in winter while gulls circle above quiet water and old "
    "fishermen mend their nets near stone walls that have stood for centuries against storms "
    "measurements of the tidal range were taken every hour during the survey period"
).split()


def make_pdf(pages: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    for p in range(pages):
        pdf.add_page()
        pdf.set_font("helvetica", size=7)
        pdf.set_xy(10, 6)
        pdf.cell(0, 4, "Proceedings of the Harbour Society, vol. 12", align="C")
        pdf.set_xy(10, 287)
        pdf.cell(0, 4, str(p + 1), align="C")
        pdf.set_font("helvetica", size=9)
        for col in range(2):
            pdf.set_xy(10 + col * 97, 14)
            text = " ".join(rng.choice(WORDS) for _ in range(340)).capitalize() + "."
            pdf.multi_cell(92, 4.2, text, align="J")
    return bytes(pdf.output())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pypdf", action="store_true", help="also time pypdf (if importable)")
    args = ap.parse_args()
    data = make_pdf(args.pages)
    reader = PdfReader()
    doc = reader.parse("bench.pdf", data)
    chars = len(doc.text)
    print(f"{args.pages} pages, {len(data) / 1e6:.1f} MB, {chars / args.pages:,.0f} characters a page, "
          f"{len(chunk(doc))} passages")
    print(load_line())
    reader.load("warm.pdf", make_pdf(1))  # start the worker: once per build
    t = best_of(lambda: reader.load("bench.pdf", data), args.repeat)
    print(f"pypdfium2, in the budget's worker (as a build reads): {args.pages / t:.1f} pages/s ({t:.2f} s)")
    t = best_of(lambda: reader.parse("bench.pdf", data), args.repeat)
    print(f"pypdfium2, in process:                          {args.pages / t:.1f} pages/s ({t:.2f} s)")
    t = best_of(lambda: reader.parse("bench.pdf", data), args.repeat, clock=time.process_time)
    print(f"pypdfium2, in process, CPU time:                {args.pages / t:.1f} pages per CPU second")
    print(load_line())

    def raw_text() -> None:
        pdf = pdfium.PdfDocument(data)
        for page in pdf:
            tp = page.get_textpage()
            tp.get_text_range()
        pdf.close()

    t = best_of(raw_text, args.repeat)
    print(f"pypdfium2, text only (no boxes, no layout): {args.pages / t:.1f} pages/s ({t:.2f} s)")
    if args.pypdf:
        try:
            import pypdf  # not a dependency: only with --pypdf, where someone put it on PYTHONPATH
        except ImportError:
            print("pypdf: not importable (install it into a scratch folder on PYTHONPATH)")
            return

        def with_pypdf() -> None:
            for page in pypdf.PdfReader(io.BytesIO(data)).pages:
                page.extract_text()

        t = best_of(with_pypdf, args.repeat)
        print(f"pypdf {pypdf.__version__}, extract_text (no layout analysis): {args.pages / t:.1f} pages/s ({t:.2f} s)")


if __name__ == "__main__":
    main()
