"""``rag eval --formats``: location accuracy and the citation invariant, per document format.

The corpus is ``rag/data/formats_eval.txt`` (:mod:`rag.evaluation.formats_corpus`): short
documents written for this project, each rendered into one format the way people keep such
documents (:mod:`rag.evaluation.formats_render`: PDF with running headers, page numbers and a
two-column page; an HTML article inside navigation, a cookie banner, a sidebar, a comment form and
a footer; a Word report with headings, a list and a table; Markdown with front matter, inline
markup, a list and a code block; plain text wrapped at 78 columns). Every question names the block
that answers it; its **gold location** is that block's file plus

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

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rag.documents.readers import reader_for
from rag.evaluation.formats_corpus import DATA, FORMATS, Gold, load_corpus, resolve
from rag.evaluation.formats_render import write_corpus
from rag.evaluation.report import print_per_mode
from rag.indexing.build import build_index
from rag.search.retriever import Retriever

FORMAT_NAMES = {"pdf": "PDF", "html": "HTML", "docx": "DOCX", "md": "Markdown", "txt": "plain text"}


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

    modes = ("hybrid", "dense", "bm25") if args.mode == "all" else (args.mode,)
    with tempfile.TemporaryDirectory(prefix="rag-formats-") as tmp:  # one index: the later modes find it up to date
        return print_per_mode(lambda mode, bar: evaluate_formats(tmp, mode=mode, progress=bar), modes, args.json,
                              format_table)
