"""Ingest speed of the HTML and DOCX readers (reading and chunking; no embedding).

HTML: realistic generated article pages (navigation, sidebar, cookie banner, footer, comment form
around an article of headings, paragraphs with inline markup, lists, a table), 30-300 KB each, plus
any .html files given on the command line. Reports MB/s of page bytes.
DOCX: generated reports (headings, paragraphs, lists, tables) written by python-docx; reports
paragraphs/s (body paragraphs and table rows, as the reader counts lines).

Each rate is given by wall clock (best of 3) and by this process's CPU time (the reader's cost,
which a loaded machine does not change much), with the load average; HTML also as a build reads
it, through the budget's worker process (``Reader.load``; wall clock only).

    PYTHONPATH=$PWD python bench/ingest_html_docx.py [page.html ...]
"""

from __future__ import annotations

import io
import random
import sys
import time
from pathlib import Path

import docx

from harness import best_of, load_line
from rag.documents.chunking import chunk
from rag.documents.readers.docx import DocxReader
from rag.documents.readers.html import HtmlReader

WORDS = (
    "the a of garden soil water plant tomato summer leaves root sun growth season harvest seed "
    "compost mulch weeks rain deep evening morning pests aphids spray yield variety fruit early late"
).split()


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 25))).capitalize() + "."


def page(rng: random.Random, sections: int) -> bytes:
    nav = "<nav><ul>" + "".join(f'<li><a href="/c{i}">Category {i}</a></li>' for i in range(30)) + "</ul></nav>"
    side = "<aside><h3>Popular</h3><ul>" + "".join(f'<li><a href="/p{i}">Post {i}</a></li>' for i in range(15)) + "</ul></aside>"
    cookie = '<div id="cookie-banner">We use cookies. <button>Accept</button></div>'
    body = []
    for s in range(sections):
        body.append(f"<h2>Section {s} {rng.choice(WORDS)}</h2>")
        for _ in range(rng.randint(2, 6)):
            ss = [sentence(rng) for _ in range(rng.randint(2, 6))]
            ss[0] = f"<b>{ss[0]}</b>"
            ss[-1] = f'<a href="/x">{ss[-1]}</a>'
            body.append('<p class="text">' + " ".join(ss) + "</p>")
        if s % 3 == 0:
            body.append("<ul>" + "".join(f"<li>{sentence(rng)}</li>" for _ in range(4)) + "</ul>")
        if s % 5 == 0:
            body.append("<table>" + "".join(f"<tr><td>{r}</td><td>{rng.choice(WORDS)}</td></tr>" for r in range(5)) + "</table>")
    footer = "<footer><p>Copyright. All rights reserved.</p></footer>"
    form = '<div id="comments"><h3>Leave a Reply</h3><form><textarea></textarea></form></div>'
    html = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Notes</title>'
        + "<script>var x = 1;</script>" * 10
        + f"</head><body>{nav}{cookie}<div class='wrap'>{side}<main><article><h1>Garden notes</h1>"
        + "".join(body)
        + f"</article></main></div>{form}{footer}</body></html>"
    )
    return html.encode("utf-8")


def docx_report(rng: random.Random, sections: int) -> tuple[bytes, int]:
    d = docx.Document()
    n = 0
    for s in range(sections):
        d.add_heading(f"Section {s}", 1 + s % 3)
        n += 1
        for _ in range(rng.randint(3, 8)):
            d.add_paragraph(" ".join(sentence(rng) for _ in range(rng.randint(1, 4))))
            n += 1
        for _ in range(3):
            d.add_paragraph(sentence(rng), style="List Bullet")
            n += 1
        if s % 4 == 0:
            t = d.add_table(rows=4, cols=3)
            for row in t.rows:
                for cell in row.cells:
                    cell.text = rng.choice(WORDS)
            n += 4
    out = io.BytesIO()
    d.save(out)
    return out.getvalue(), n


def main(argv: list[str]) -> None:
    rng = random.Random(7)
    html_reader, docx_reader = HtmlReader(), DocxReader()
    html_reader.parse("warm.html", page(rng, 2))  # imports trafilatura once
    pages = [page(rng, n) for n in (10, 20, 40, 80, 120)] + [Path(a).read_bytes() for a in argv]
    size = sum(len(p) for p in pages)

    def read_pages() -> None:
        for i, p in enumerate(pages):
            chunk(html_reader.parse(f"p{i}.html", p))

    print(load_line())
    t = best_of(read_pages)
    print(f"HTML: {len(pages)} pages, {size / 1e6:.2f} MB in {t:.3f} s: {size / 1e6 / t:.2f} MB/s "
          f"(sizes {', '.join(f'{len(p) // 1024} KB' for p in pages)})")
    t = best_of(read_pages, clock=time.process_time)
    print(f"HTML, CPU time of this process: {size / 1e6 / t:.2f} MB per CPU second")
    html_reader.load("warm.html", pages[0])  # start the worker: once per build

    def load_pages() -> None:
        for i, p in enumerate(pages):
            chunk(html_reader.load(f"p{i}.html", p))

    t = best_of(load_pages)
    print(f"HTML in the budget's worker (as a build reads): {size / 1e6 / t:.2f} MB/s")

    docs = [docx_report(rng, n) for n in (10, 40, 120)]
    paras = sum(n for _, n in docs)
    dsize = sum(len(b) for b, _ in docs)

    def read_docs() -> None:
        for i, (b, _) in enumerate(docs):
            chunk(docx_reader.parse(f"d{i}.docx", b))

    t = best_of(read_docs)
    print(f"DOCX: {len(docs)} files, {paras} paragraphs ({dsize / 1e6:.2f} MB) in {t:.3f} s: {paras / t:.0f} paragraphs/s")
    t = best_of(read_docs, clock=time.process_time)
    print(f"DOCX, CPU time of this process: {paras / t:.0f} paragraphs per CPU second")
    print(load_line())


if __name__ == "__main__":
    main(sys.argv[1:])
