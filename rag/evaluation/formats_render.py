"""The documents of ``rag eval --formats`` written in each format the way people keep such documents.

PDF with running headers, page numbers and a two-column page; an HTML article inside navigation, a
cookie banner, a sidebar, a comment form and a footer; a Word report with headings, a list and a
table; Markdown with front matter, inline markup, a list and a code block; plain text wrapped at 78
columns. Every renderer returns the file's bytes (the same bytes every time) and the gold location
of each block it wrote (:class:`rag.evaluation.formats_corpus.Gold`).
"""

from __future__ import annotations

import io
import textwrap
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import docx

from rag.errors import RagError
from rag.evaluation.formats_corpus import Gold, Item, SourceDoc, block_words


def _wrap(text: str, width: int = 78) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def render_txt(doc: SourceDoc) -> tuple[bytes, dict[str, Gold]]:
    lines: list[str] = [doc.title, "=" * len(doc.title)]
    gold: dict[str, Gold] = {}
    for it in doc.items:
        lines.append("")
        if it.kind == "head":
            lines.append(it.text)
            continue
        body = _wrap(it.text) if it.kind == "para" else [f"- {r}" if it.kind == "list" else r for r in it.rows]
        gold[it.id] = Gold(doc.file, block_words(it), lines=(len(lines) + 1, len(lines) + len(body)))
        lines += body
    return ("\n".join(lines) + "\n").encode("utf-8"), gold


def _markup(text: str, n: int) -> str:
    """Inline Markdown markup on some words (bold, emphasis, a link), as notes have it."""
    words = text.split(" ")
    if len(words) > 6:
        words[2] = f"**{words[2]}**"
        if n % 2:
            words[5] = f"[{words[5]}](https://example.org/notes/{n})"
        else:
            words[5] = f"_{words[5]}_"
    return " ".join(words)


def render_md(doc: SourceDoc) -> tuple[bytes, dict[str, Gold]]:
    lines = ["---", f"title: {doc.title}", "tags: [notes, outdoors]", "date: 2024-05-01", "---"]
    gold: dict[str, Gold] = {}
    heads: list[tuple[int, str]] = []
    for n, it in enumerate(doc.items):
        lines.append("")
        if it.kind == "head":
            lines.append("#" * it.level + " " + it.text)
            while heads and heads[-1][0] >= it.level:
                heads.pop()
            heads.append((it.level, it.text))
            continue
        if it.kind == "para":
            body = _wrap(_markup(it.text, n), 80)
            first = len(lines) + 1
        elif it.kind == "list":
            body = [f"- {r}" for r in it.rows]
            first = len(lines) + 1
        elif it.kind == "code":
            body = [f"```{it.lang}", *it.rows, "```"]
            first = len(lines) + 2  # the fence lines are not the code
        else:
            body = ["| " + " | ".join(c.strip() for c in r.split("|")) + " |" for r in it.rows]
            body.insert(1, "|" + "---|" * (it.rows[0].count("|") + 1))
            first = len(lines) + 1
        last = len(lines) + len(body) - (1 if it.kind == "code" else 0)
        gold[it.id] = Gold(doc.file, block_words(it), section=" > ".join(t for _, t in heads) or None, lines=(first, last))
        lines += body
    return ("\n".join(lines) + "\n").encode("utf-8"), gold


_HTML_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | Weekend Notes</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/site.css">
<script>window.dataLayer = window.dataLayer || []; function gtag(){{dataLayer.push(arguments);}}</script>
<script src="/static/analytics.js" async></script>
</head><body>
<div id="cookie-banner" class="cookie-consent"><p>We use cookies to improve your experience and to show
personalised adverts. By continuing to browse you agree to our use of cookies.</p>
<button>Accept all</button> <button>Manage preferences</button></div>
<header class="site-header"><a href="/" class="logo">Weekend Notes</a>
<nav><ul><li><a href="/">Home</a></li><li><a href="/garden">Garden</a></li><li><a href="/outdoors">Outdoors</a></li>
<li><a href="/science">Science</a></li><li><a href="/about">About us</a></li><li><a href="/contact">Contact</a></li>
<li><a href="/subscribe">Subscribe</a></li></ul></nav></header>
<div class="layout"><main><article class="post">
<h1>{title}</h1><p class="byline">Posted on 3 March 2024 by the editors</p>
"""

_HTML_TAIL = """</article>
<section class="share"><p>Share this: <a href="#">Facebook</a> <a href="#">Twitter</a> <a href="#">Email</a></p></section>
<div id="comments" class="comments-area"><h3>Leave a Reply</h3>
<p>Your email address will not be published. Required fields are marked *</p>
<form action="/comment" method="post"><textarea name="comment"></textarea>
<input name="author"><input name="email"><button>Post Comment</button></form></div>
</main>
<aside class="sidebar"><h3>Popular posts</h3><ul>
<li><a href="/p/1">Ten easy vegetables for beginners</a></li><li><a href="/p/2">Our favourite autumn walks</a></li>
<li><a href="/p/3">How to sharpen a kitchen knife</a></li><li><a href="/p/4">Reading the night sky</a></li></ul>
<h3>Newsletter</h3><p>Get new posts by email every Friday.</p><form><input name="e"><button>Sign up</button></form></aside></div>
<footer class="site-footer"><p>Copyright 2024 Weekend Notes. All rights reserved.</p>
<p><a href="/privacy">Privacy policy</a> | <a href="/terms">Terms of use</a> | <a href="/cookies">Cookie settings</a></p>
<p><a href="#top">Back to top</a></p></footer>
<script>document.querySelector('.cookie-consent button').onclick = function(){{}};</script>
</body></html>
"""


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_html(doc: SourceDoc) -> tuple[bytes, dict[str, Gold]]:
    out = [_HTML_HEAD.format(title=_esc(doc.title))]
    gold: dict[str, Gold] = {}
    heads: list[tuple[int, str]] = [(1, doc.title)]
    for n, it in enumerate(doc.items):
        if it.kind == "head":
            level = it.level + 1 if it.level < 2 else it.level
            while heads and heads[-1][0] >= level:
                heads.pop()
            heads.append((level, it.text))
            out.append(f"<h{level}>{_esc(it.text)}</h{level}>\n")
            continue
        gold[it.id] = Gold(doc.file, block_words(it), section=" > ".join(t for _, t in heads))
        if it.kind == "para":
            words = _esc(it.text).split(" ")
            if len(words) > 8:  # inline markup, as articles have it
                words[1] = f"<strong>{words[1]}</strong>"
                words[6] = f'<a href="/glossary#{n}">{words[6]}</a>'
            out.append(f"<p>{' '.join(words)}</p>\n")
        elif it.kind == "list":
            out.append("<ul>" + "".join(f"<li>{_esc(r)}</li>" for r in it.rows) + "</ul>\n")
        elif it.kind == "table":
            rows = [[c.strip() for c in r.split("|")] for r in it.rows]
            head = "<tr>" + "".join(f"<th>{_esc(c)}</th>" for c in rows[0]) + "</tr>"
            body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
            out.append(f"<table><thead>{head}</thead><tbody>{body}</tbody></table>\n")
        else:
            out.append("<pre><code>" + _esc("\n".join(it.rows)) + "</code></pre>\n")
    out.append(_HTML_TAIL.format())
    return "".join(out).encode("utf-8"), gold


def render_docx(doc: SourceDoc) -> tuple[bytes, dict[str, Gold]]:
    d = docx.Document()
    d.core_properties.title = doc.title
    d.add_paragraph(doc.title, style="Title")
    n = 1  # the reader's line N is the body's paragraph N (table rows count one each)
    gold: dict[str, Gold] = {}
    heads: list[tuple[int, str]] = []
    for it in doc.items:
        if it.kind == "head":
            d.add_heading(it.text, it.level)
            n += 1
            while heads and heads[-1][0] >= it.level:
                heads.pop()
            heads.append((it.level, it.text))
            continue
        first = n + 1
        if it.kind == "para":
            d.add_paragraph(it.text)
            n += 1
        elif it.kind == "list":
            for r in it.rows:
                d.add_paragraph(r, style="List Bullet")
                n += 1
        elif it.kind == "table":
            rows = [[c.strip() for c in r.split("|")] for r in it.rows]
            t = d.add_table(rows=len(rows), cols=len(rows[0]))
            t.style = "Table Grid"
            for row, cells in zip(t.rows, rows):
                for cell, text in zip(row.cells, cells):
                    cell.text = text
            n += len(rows)
        else:
            for r in it.rows:
                d.add_paragraph(r)
                n += 1
        gold[it.id] = Gold(doc.file, block_words(it), section=" > ".join(t for _, t in heads) or None, lines=(first, n))
    buf = io.BytesIO()
    d.save(buf)
    return _fixed_zip_times(buf.getvalue()), gold


def _fixed_zip_times(data: bytes) -> bytes:
    """The same archive with every member dated 2024-05-01: the same bytes every time."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2024, 5, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info))
    return out.getvalue()


def render_pdf(doc: SourceDoc) -> tuple[bytes, dict[str, Gold]]:
    """A page per level-1/2 heading (the title on the first), a running header (the document's
    title and a series name) and a page number on every page, justified paragraphs; a heading
    marked ``[columns]`` gets a two-column page. Raises :class:`RagError` without fpdf2."""
    try:
        from fpdf import FPDF  # fpdf2 is a test/dev dependency: a clean error where it is missing
    except ImportError:
        raise RagError("the format evaluation writes PDFs with fpdf2: `pip install fpdf2`") from None

    pdf = FPDF(format="A4")
    pdf.set_title(doc.title)
    pdf.set_creation_date(datetime(2024, 5, 1, tzinfo=timezone.utc))  # the same bytes every time
    pdf.set_auto_page_break(False)
    gold: dict[str, Gold] = {}
    pages: list[list[Item]] = []
    heads: list[Item] = []
    for it in doc.items:
        if it.kind == "head" and it.level <= 2:
            heads.append(it)
            pages.append([])
        elif pages:
            pages[-1].append(it)
    for p, (head, items) in enumerate(zip(heads, pages), start=1):
        pdf.add_page()
        pdf.set_font("helvetica", "I", 8)
        pdf.set_xy(15, 8)
        pdf.cell(0, 4, f"Coastal Heritage Series  -  {doc.title}", align="L")
        pdf.set_xy(15, 285)
        pdf.cell(0, 4, str(p), align="C")
        y = 22
        if p == 1:
            pdf.set_font("helvetica", "B", 18)
            pdf.set_xy(15, y)
            pdf.multi_cell(180, 9, doc.title)
            y = pdf.get_y() + 6
        pdf.set_font("helvetica", "B", 13)
        pdf.set_xy(15, y)
        pdf.multi_cell(180, 7, head.text)
        y = pdf.get_y() + 4
        pdf.set_font("helvetica", "", 10.5)
        cols = [items[: (len(items) + 1) // 2], items[(len(items) + 1) // 2 :]] if head.columns else [items]
        width = 86 if head.columns else 180
        for c, col in enumerate(cols):
            cy = y
            for it in col:
                pdf.set_xy(15 + c * 94, cy)
                text = it.text if it.kind == "para" else "\n".join(it.rows)
                pdf.multi_cell(width, 5.2, text, align="J" if it.kind == "para" else "L")
                cy = pdf.get_y() + 4
                if cy > 278:
                    raise ValueError(f"{doc.file}: page {p} overflows; shorten it")
                gold[it.id] = Gold(doc.file, block_words(it), page=p)
    return bytes(pdf.output()), gold


RENDERERS = {"txt": render_txt, "md": render_md, "html": render_html, "docx": render_docx, "pdf": render_pdf}


def write_corpus(folder: Path, docs: list[SourceDoc]) -> dict[str, Gold]:
    """Render every document into ``folder``; the gold location of every block, by id."""
    folder.mkdir(parents=True, exist_ok=True)
    gold: dict[str, Gold] = {}
    for doc in docs:
        data, g = RENDERERS[doc.format](doc)
        (folder / doc.file).write_bytes(data)
        gold.update(g)
    return gold
