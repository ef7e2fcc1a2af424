"""``rag eval --formats``: location accuracy and the citation invariant, per document format.

The corpus is ``rag/data/formats_eval.txt``: short documents written for this project, each
rendered here into one format the way people keep such documents (PDF with running headers, page
numbers and a two-column page; an HTML article inside navigation, a cookie banner, a sidebar, a
comment form and a footer; a Word report with headings, a list and a table; Markdown with front
matter, inline markup, a list and a code block; plain text wrapped at 78 columns). Every question
names the block that answers it; its **gold location** is that block's file plus

- its lines as the generator wrote them (plain text, Markdown: lines of the file; DOCX: paragraph
  numbers, which are the reader's lines), or
- its page (PDF) or heading path (HTML), and the lines of the reader's text of that page or page
  where the block's words are found (the reader's text is the only line numbering these formats
  have; a block the reader lost cannot be found, and its questions count as misses).

A hit is **at the gold location** when it is the same file (and, for PDF, the same page) and its
cited lines overlap the gold lines. Every hit's citation is also checked: the cited lines, read
back through the file's reader, hold the hit's text (the citation invariant).
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from rag.errors import RagError

DATA = Path(__file__).resolve().parents[1] / "data" / "formats_eval.txt"
FORMATS = ("pdf", "html", "docx", "md", "txt")
FORMAT_NAMES = {"pdf": "PDF", "html": "HTML", "docx": "DOCX", "md": "Markdown", "txt": "plain text"}


# --------------------------------------------------------------------------- the corpus
@dataclass(slots=True)
class Item:
    """One piece of a source document: a heading (``kind == "head"``) or a block that can answer."""

    kind: str  # head | para | list | table | code
    id: str = ""
    level: int = 0  # headings
    text: str = ""  # heading, paragraph
    rows: list[str] = field(default_factory=list)  # list items, table rows ("a | b"), code lines
    columns: bool = False  # a heading whose PDF page is laid out in two columns
    lang: str = ""


@dataclass(slots=True)
class SourceDoc:
    file: str
    title: str
    items: list[Item]

    @property
    def format(self) -> str:
        return self.file.rsplit(".", 1)[1]


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    block: str  # the id of the block that answers it
    file: str


@dataclass(slots=True)
class Gold:
    """Where a block is: ``file``, ``page`` (PDF), ``section`` (formats with headings) and its lines
    (1-based, inclusive; within the page for PDF). ``lines`` is None until known."""

    file: str
    words: str  # the block's text, for finding it in the reader's text
    page: int | None = None
    section: str | None = None
    lines: tuple[int, int] | None = None


def load_corpus(path: Path = DATA) -> tuple[list[SourceDoc], list[Question]]:
    docs: list[SourceDoc] = []
    questions: list[Question] = []
    cur: SourceDoc | None = None
    pending: Item | None = None  # a list/table/code block taking rows
    for raw in path.read_text(encoding="utf-8").split("\n"):
        line = raw.rstrip()
        if pending is not None and pending.kind == "code":
            if line == "[end]":
                pending = None
            else:
                pending.rows.append(line)
            continue
        if pending is not None and (line.startswith("- ") or line.startswith("|")):
            pending.rows.append(line[2:] if line.startswith("- ") else " | ".join(c.strip() for c in line.strip("|").split("|")))
            continue
        pending = None
        if not line or (cur is None and line.startswith("#")):
            continue  # blank, or the file's own comments
        if line.startswith("=== "):
            cur = SourceDoc(line[4:].strip(), "", [])
            docs.append(cur)
        elif cur is None:
            raise ValueError(f"{path}: text before the first document: {line!r}")
        elif line.startswith("title: "):
            cur.title = line[7:].strip()
        elif line.startswith("#"):
            marks = len(line) - len(line.lstrip("#"))
            text = line[marks:].strip()
            columns = text.endswith("[columns]")
            cur.items.append(Item("head", level=marks, text=text.removesuffix("[columns]").strip(), columns=columns))
        elif line.startswith("? "):
            block, q = line[2:].split(":", 1)
            questions.append(Question(q.strip(), block.strip(), cur.file))
        elif m := re.match(r"\[([\w-]+)(?::(\w+)\s*(\w*))?\]\s*(.*)$", line):
            ident, kind, lang, text = m.groups()
            item = Item(kind or "para", id=ident, text=text, lang=lang or "")
            cur.items.append(item)
            if kind:
                pending = item
        else:
            raise ValueError(f"{path}: cannot read the line {line!r}")
    ids = {it.id for d in docs for it in d.items if it.id}
    for q in questions:
        if q.block not in ids:
            raise ValueError(f"{path}: question {q.text!r} names no block {q.block!r}")
    return docs, questions


def block_words(item: Item) -> str:
    return item.text if item.kind == "para" else " ".join(item.rows)


# --------------------------------------------------------------------------- renderers
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
    import io

    import docx

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
    import io
    import zipfile

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
        from fpdf import FPDF
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


# --------------------------------------------------------------------------- finding blocks in the reader's text
_WORD = re.compile(r"[A-Za-z0-9]+")


def find_lines(lines: list[str], words: str, probe: int = 6) -> tuple[int, int] | None:
    """The 1-based line range of ``lines`` whose words run from the first ``probe`` words of
    ``words`` to its last ``probe``; None when they are not there (in that order)."""
    seq: list[tuple[str, int]] = [(w.lower(), i) for i, line in enumerate(lines, start=1) for w in _WORD.findall(line)]
    toks = [w.lower() for w in _WORD.findall(words)]
    if not toks:
        return None
    head, tail = toks[:probe], toks[-probe:]
    flat = [w for w, _ in seq]

    def at(needle: list[str], start: int) -> int | None:
        for i in range(start, len(flat) - len(needle) + 1):
            if flat[i : i + len(needle)] == needle:
                return i
        return None

    a = at(head, 0)
    if a is None:
        return None
    b = at(tail, a + len(head) - len(tail) if len(toks) >= len(head) else a)
    if b is None:
        return None
    return seq[a][1], seq[b + len(tail) - 1][1]


def resolve(gold: dict[str, Gold], folder: Path) -> None:
    """Fill in the lines of PDF and HTML blocks from the reader's text of their page (PDF) or
    document (HTML); left None where the reader's text does not hold the block's words."""
    from rag.documents.readers import reader_for

    docs: dict[str, object] = {}
    for g in gold.values():
        if g.lines is not None:
            continue
        if g.file not in docs:
            try:
                docs[g.file] = reader_for(folder / g.file).read(folder / g.file, source=g.file)
            except RagError:
                docs[g.file] = None
        d = docs[g.file]
        if d is not None:
            g.lines = find_lines(d.lines(g.page), g.words)


# --------------------------------------------------------------------------- scoring
def at_gold(source: str, page: int | None, line_start: int, line_end: int, g: Gold) -> bool:
    """A citation at the gold location: same file, same page (PDF), overlapping lines."""
    if source != g.file or g.lines is None or (g.page is not None and page != g.page):
        return False
    return line_start <= g.lines[1] and g.lines[0] <= line_end


def cited_text(doc, page: int | None, line_start: int, line_end: int, col_start: int | None, col_end: int | None) -> str:
    """What a citation names, read from the document as its reader reads it."""
    lines = doc.lines(page)[line_start - 1 : line_end]
    text = "\n".join(lines)
    if col_end is not None and col_start is not None:
        cut = len(text) - len(lines[-1]) + col_end if lines else 0
        text = text[col_start - 1 : cut]
    return text


@dataclass(slots=True)
class FormatResult:
    format: str
    files: int = 0
    questions: int = 0
    top1: int = 0
    top5: int = 0
    chance5: float = 0.0  # expected top-5 hits of a ranking drawn at random
    unresolved: int = 0  # gold blocks whose words the reader's text does not hold
    hits_checked: int = 0
    violations: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)  # not in the top 5
    top1_misses: list[str] = field(default_factory=list)  # in the top 5, not first

    def as_dict(self) -> dict:
        n = max(self.questions, 1)
        return {
            "format": self.format,
            "files": self.files,
            "questions": self.questions,
            "top1": round(self.top1 / n, 4),
            "top5": round(self.top5 / n, 4),
            "chance_top5": round(self.chance5 / n, 4),
            "unresolved_gold": self.unresolved,
            "hits_checked": self.hits_checked,
            "citation_violations": self.violations,
            "misses": self.misses,
            "top1_misses": self.top1_misses,
        }


def evaluate_formats(workdir: str | Path, *, mode: str = "hybrid", k: int = 5, per_format: int | None = None,
                     formats=FORMATS, encoder=None, progress=None, corpus: Path = DATA) -> dict:
    """Write the corpus under ``workdir/seeds``, index it into ``workdir/index`` and ask every
    question (the first ``per_format`` of each format, when given). Returns the per-format results
    (see :class:`FormatResult`) and the index's size."""
    from rag.documents.readers import reader_for
    from rag.indexing.build import build_index
    from rag.search.retriever import Retriever

    workdir = Path(workdir)
    docs, questions = load_corpus(corpus)
    docs = [d for d in docs if d.format in formats]
    seeds = workdir / "seeds"
    gold = write_corpus(seeds, docs)
    resolve(gold, seeds)
    stats = build_index(seeds, workdir / "index", encoder=encoder, progress=progress,
                        export_query_encoder=encoder is None)
    r = Retriever.open(workdir / "index", encoder=encoder)
    passages = list(r.passages)
    read_back: dict[str, object] = {}

    def reread(source: str):
        if source not in read_back:
            read_back[source] = reader_for(seeds / source).read(seeds / source, source=source)
        return read_back[source]

    results = {f: FormatResult(f, files=sum(d.format == f for d in docs)) for f in formats}
    asked: dict[str, int] = {}
    for q in questions:
        fmt = q.file.rsplit(".", 1)[1]
        if fmt not in results or (per_format is not None and asked.get(fmt, 0) >= per_format):
            continue
        asked[fmt] = asked.get(fmt, 0) + 1
        res, g = results[fmt], gold[q.block]
        res.questions += 1
        if g.lines is None:
            res.unresolved += 1
        hits = r.search(q.text, k=k, mode=mode, answers=False)
        ok = [at_gold(h.source, h.page, h.line_start, h.line_end, g) for h in hits]
        res.top1 += bool(ok[:1] and ok[0])
        res.top5 += any(ok[:5])
        if not (ok[:1] and ok[0]):
            top = hits[0].citation if hits else "nothing"
            where = f"{q.text} -> {top} (gold {g.file}{'' if g.page is None else f' p.{g.page}'} lines {g.lines})"
            (res.top1_misses if any(ok[:5]) else res.misses).append(where)
        good = sum(at_gold(p.source, p.page, p.line_start, p.line_end, g) for p in passages)
        res.chance5 += min(1.0, min(k, 5) * good / max(len(passages), 1))
        for h in hits:
            res.hits_checked += 1
            back = cited_text(reread(h.source), h.page, h.line_start, h.line_end, h.col_start, h.col_end)
            if h.text not in back:
                res.violations.append(f"{h.citation}: {h.text[:60]!r}")
    return {
        "mode": mode,
        "k": k,
        "passages": len(passages),
        "files": stats.files,
        "skipped": [f"{s.source}: {s.reason}" for s in getattr(stats, "skipped", []) or []],
        "formats": [results[f].as_dict() for f in formats],
    }


def format_table(res: dict) -> str:
    lines = [
        f"Per-format location accuracy ({res['mode']}, {res['passages']} passages in {res['files']} files)",
        "",
        "| Format | Files | Questions | Top-1 | Top-5 | Top-5 by chance | Hits checked | Citation violations |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in res["formats"]:
        lines.append(
            f"| {FORMAT_NAMES.get(f['format'], f['format'])} | {f['files']} | {f['questions']} | {f['top1']:.2f} | "
            f"{f['top5']:.2f} | {f['chance_top5']:.2f} | {f['hits_checked']} | {len(f['citation_violations'])} |"
        )
    notes = []
    for f in res["formats"]:
        if f["unresolved_gold"]:
            notes.append(f"{f['format']}: {f['unresolved_gold']} gold blocks not found in the reader's text")
        notes += [f"{f['format']} violation: {v}" for v in f["citation_violations"]]
        notes += [f"{f['format']} miss: {m}" for m in f["misses"]]
        notes += [f"{f['format']} not first: {m}" for m in f["top1_misses"]]
    notes += [f"skipped: {s}" for s in res["skipped"]]
    return "\n".join(lines + ([""] + notes if notes else []))


def run_cli(args) -> int:
    from rag.progress import ProgressBar
    from rag.terminal_text import terminal_safe

    modes = ("hybrid", "dense", "bm25") if args.mode == "all" else (args.mode,)
    results = []
    with tempfile.TemporaryDirectory(prefix="rag-formats-") as tmp:
        for mode in modes:  # one index: the later runs find it up to date
            bar = ProgressBar()
            try:
                results.append(evaluate_formats(tmp, mode=mode, progress=bar))
            finally:
                bar.close()
    if args.json:
        sys.stdout.write(json.dumps(results if len(results) > 1 else results[0]) + "\n")
    else:
        print(terminal_safe("\n\n".join(format_table(r) for r in results)))
    return 0
