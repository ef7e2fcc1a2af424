"""Page-level retrieval on a development set of PDFs, per kind of layout.

The set is a natural-question set (:mod:`rag.evaluation.natural`: ``questions.jsonl`` and ``docs/``)
whose questions also carry ``layout`` (the kind of page the answer is on: "three-column notice",
"rotated table", ...); their gold ranges name the page. Optionally ``furniture.json`` maps a source
to the running headers, footers and margin stamps its pages carry.

For each answerable question, the top ``k`` hits of a search are judged by page, not by lines, so
that two readers that cut a page into different lines are measured alike:
- ``page_top1``: the first hit is on a gold page (same source);
- ``page_top5``: one of the top ``k`` hits is;
- ``answer_top5``: the answer's text (blanks collapsed, case kept) lies inside one of them;
- ``furniture_top5``: one of them holds a running header, footer or margin stamp of its source.

    .venv/bin/python -m rag.evaluation.pdf_pages bench/devsets/pdfs [--index DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from rag.errors import DataError
from rag.evaluation.natural import docs_folder
from rag.indexing.build import build_index
from rag.search.retriever import Retriever

K = 5


def _squash(text: str) -> str:
    return " ".join(text.split())


def load_set(set_dir: Path) -> list[dict]:
    """The answerable questions: id, question, layout, answer, and gold pages as (source, page)."""
    out = []
    for n, line in enumerate((set_dir / "questions.jsonl").read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if d["kind"] != "answerable":
                continue
            pages = {(str(g["source"]), int(g["page"])) for g in d["gold"]}
            out.append({"id": str(d["id"]), "question": str(d["question"]), "layout": str(d.get("layout") or "other"),
                        "answer": str(d["answer"]), "pages": pages})
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{set_dir / 'questions.jsonl'}:{n}: not a question with gold pages ({exc})") from None
    return out


def judge(q: dict, hits, furniture: dict[str, list[str]]) -> dict:
    """The four judgements of one question's hits (see the module)."""
    on_page = [(h.source, h.page) in q["pages"] for h in hits]
    answer = _squash(q["answer"])
    return {
        "page_top1": bool(on_page[:1] and on_page[0]),
        "page_top5": any(on_page),
        "answer_top5": any(answer in _squash(h.text) for h in hits),
        "furniture_top5": any(f in _squash(h.text) for h in hits for f in furniture.get(h.source, ())),
    }


def summarize(rows: list[dict]) -> dict:
    keys = ("page_top1", "page_top5", "answer_top5", "furniture_top5")
    return {"n": len(rows), **{k: round(sum(r[k] for r in rows) / len(rows), 3) if rows else None for k in keys}}


def evaluate_pages(set_dir: str | Path, index: str | Path, mode: str = "hybrid", k: int = K, encoder=None) -> dict:
    """Build (or bring up to date) the set's index at ``index`` and judge every question."""

    root = Path(set_dir)
    questions = load_set(root)
    fpath = root / "furniture.json"
    furniture = {s: [_squash(t) for t in v] for s, v in json.loads(fpath.read_text(encoding="utf-8")).items()} \
        if fpath.is_file() else {}
    build_index(docs_folder(root), index, encoder=encoder)
    r = Retriever.open(index, encoder=encoder)
    results = r.search_many([q["question"] for q in questions], k=k, mode=mode)
    rows = [{"id": q["id"], "layout": q["layout"], **judge(q, hits, furniture)} for q, hits in zip(questions, results)]
    by_layout = defaultdict(list)
    for row in rows:
        by_layout[row["layout"]].append(row)
    return {"set": str(root), "mode": mode, "k": k, "all": summarize(rows),
            "by_layout": {name: summarize(v) for name, v in sorted(by_layout.items())}, "items": rows}


def format_table(res: dict) -> str:
    def pct(v):
        return "-" if v is None else f"{100 * v:.0f}"

    out = [f"{'layout':<30}{'n':>4} {'page@1':>7} {'page@5':>7} {'answer@5':>9} {'furniture@5':>12}"]
    for name, s in [*res["by_layout"].items(), ("all", res["all"])]:
        out.append(f"{name:<30}{s['n']:>4} {pct(s['page_top1']):>7} {pct(s['page_top5']):>7} "
                   f"{pct(s['answer_top5']):>9} {pct(s['furniture_top5']):>12}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rag.evaluation.pdf_pages", description=__doc__.split("\n")[0])
    ap.add_argument("set_dir")
    ap.add_argument("--index", default=None, help="where to keep the set's index (default indexes/pdf-pages)")
    ap.add_argument("--mode", default="hybrid", choices=("hybrid", "dense", "bm25"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        res = evaluate_pages(args.set_dir, args.index or Path("indexes") / "pdf-pages", mode=args.mode)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(res, indent=1) if args.json else format_table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
