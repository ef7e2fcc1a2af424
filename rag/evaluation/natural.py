"""``rag eval DIR`` on a development set of natural questions: how often the verdict a person reads
first is right.

A set is a folder (``bench/devsets/NAME``, ``bench/heldout/NAME``) with ``questions.jsonl`` (one
question a line: ``id``, ``question``, ``kind`` (answerable, unanswerable, offtopic), ``style``,
``gold`` (the line ranges that answer it: ``source``, ``line_start``, ``line_end``, ``page``),
``answer``), optionally ``conversation.jsonl`` (the turns of one conversation in order, the same
fields plus ``depends`` and, for dependent turns, ``rewrite``), and its documents: a ``docs/``
folder, or ``docs.txt`` naming a folder relative to the repository root (or to the set).

Every question is asked alone; the conversation is asked in order with its earlier questions and
the passages shown for them, as the chat asks it. A hit is right when its cited lines overlap a
gold range of the same source and page. The verdict is :func:`rag.search.verdict.verdict`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.errors import DataError
from rag.evaluation.metrics import auroc
from rag.evaluation.report import run_and_print
from rag.indexing.build import build_index
from rag.search.retriever import Retriever
from rag.search.verdict import best_confidence, verdict
from rag.types import Hit

KINDS = ("answerable", "unanswerable", "offtopic")
K = 5  # passages per question, the chat's default
Place = tuple[str, int, int, "int | None"]  # source, line_start, line_end, page


@dataclass(frozen=True, slots=True)
class Gold:
    source: str
    line_start: int
    line_end: int
    page: int | None = None


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    question: str
    kind: str
    style: str
    gold: tuple[Gold, ...] = ()
    answer: str = ""
    depends: bool | None = None  # conversation turns only
    rewrite: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What came back for one question: the verdict, and whether the top hits were right."""

    question: Question
    verdict: str
    confidence: float | None  # the best confidence among the hits
    top1: bool
    top3: bool
    places: tuple[Place, ...]  # the top-3 citations
    same_as_alone: bool | None = None  # conversation, depends=false: the top 3 equal those asked alone


def load_questions(path: str | Path) -> list[Question]:
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            q = Question(str(d["id"]), str(d["question"]), str(d["kind"]), str(d["style"]),
                         tuple(Gold(str(g["source"]), int(g["line_start"]), int(g["line_end"]), g.get("page"))
                               for g in d.get("gold") or ()),
                         str(d.get("answer") or ""), d.get("depends"), d.get("rewrite"))
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}:{n}: not a question record ({exc})") from None
        if q.kind not in KINDS:
            raise DataError(f"{path}:{n}: kind must be one of {', '.join(KINDS)}, not {q.kind!r}")
        if q.kind == "answerable" and not q.gold:
            raise DataError(f"{path}:{n}: an answerable question needs a gold range")
        out.append(q)
    return out


def place(hit: Hit) -> Place:
    return (hit.source, hit.line_start, hit.line_end, hit.page)


def is_right(hit: Hit, gold: Iterable[Gold]) -> bool:
    """Whether the hit's cited lines overlap one of the gold ranges (same source, same page)."""
    return any(hit.source == g.source and hit.page == g.page and hit.line_start <= g.line_end
               and g.line_start <= hit.line_end for g in gold)


def outcome(q: Question, hits: Sequence[Hit], alone: Sequence[Hit] | None = None) -> Outcome:
    right = [is_right(h, q.gold) for h in hits[:3]]
    same = None if alone is None else [place(h) for h in hits[:3]] == [place(h) for h in alone[:3]]
    return Outcome(q, verdict(hits), best_confidence(hits), bool(right[:1] and right[0]), any(right),
                   tuple(place(h) for h in hits[:3]), same)


def _rate(xs: Sequence[bool]) -> float | None:
    return round(sum(xs) / len(xs), 4) if xs else None


def row(outs: Sequence[Outcome]) -> dict:
    """The figures of a group of outcomes (top-k only over the answerable ones)."""
    ans = [o for o in outs if o.question.kind == "answerable"]
    return {"n": len(outs), "top1": _rate([o.top1 for o in ans]), "top3": _rate([o.top3 for o in ans]),
            "answer": _rate([o.verdict == "answer" for o in outs]), "weak": _rate([o.verdict == "weak" for o in outs]),
            "not_found": _rate([o.verdict == "not_found" for o in outs])}


def summarize(outs: Sequence[Outcome]) -> dict:
    ans = [o for o in outs if o.question.kind == "answerable"]
    neg = [o for o in outs if o.question.kind != "answerable"]
    scored = [o for o in ans if o.top1] + neg
    try:
        area = round(auroc([o.confidence or 0.0 for o in scored], [o.question.kind == "answerable" for o in scored]), 4)
    except ValueError:
        area = None
    by = lambda key: {v: row([o for o in outs if key(o) == v]) for v in sorted({key(o) for o in outs})}  # noqa: E731
    return {"n": len(outs), "answerable": len(ans), "negatives": len(neg),
            "top1": _rate([o.top1 for o in ans]), "top3": _rate([o.top3 for o in ans]),
            "false_not_found": _rate([o.verdict == "not_found" for o in ans]),
            "answer": _rate([o.verdict == "answer" for o in ans]), "weak": _rate([o.verdict == "weak" for o in ans]),
            "negatives_not_found": _rate([o.verdict == "not_found" for o in neg]),
            "negatives_not_answer": _rate([o.verdict != "answer" for o in neg]),
            "auroc": area, "by_kind": by(lambda o: o.question.kind), "by_style": by(lambda o: o.question.style)}


def summarize_conversation(outs: Sequence[Outcome]) -> dict:
    free = [o for o in outs if not o.question.depends]
    dep = [o for o in outs if o.question.depends]
    res = summarize(outs)
    res["self_contained"] = {**row(free), "same_as_alone": _rate([bool(o.same_as_alone) for o in free])}
    res["depends"] = row(dep)
    return res


def docs_folder(set_dir: Path) -> Path:
    if (set_dir / "docs").is_dir():
        return set_dir / "docs"
    pointer = set_dir / "docs.txt"
    if not pointer.is_file():
        raise DataError(f"{set_dir}: no docs/ folder and no docs.txt")
    rel = pointer.read_text(encoding="utf-8").strip()
    for base in (Path(__file__).resolve().parents[2], Path.cwd(), set_dir):
        if (base / rel).is_dir():
            return base / rel
    raise DataError(f"{pointer}: documents folder {rel!r} not found")


def ask_conversation(retriever, turns: Sequence[Question], mode: str = "hybrid", k: int = K) -> list[list[Hit]]:
    """Each turn searched with the earlier questions and the passages shown for them (the top hit's
    text where the verdict was not "not in your documents", else None), in order."""
    history: list[str] = []
    shown: list[str | None] = []
    out = []
    for t in turns:
        hits = retriever.search(t.question, k=k, mode=mode, history=list(history), history_answers=list(shown) or None)
        out.append(hits)
        history.append(t.question)
        shown.append(hits[0].text if hits and verdict(hits) != "not_found" else None)
    return out


def evaluate_natural(set_dir: str | Path, index: str | Path | None = None, mode: str = "hybrid", k: int = K,
                     encoder=None, progress=None) -> dict:

    root = Path(set_dir)
    qfile = root / "questions.jsonl"
    if not qfile.is_file():
        raise DataError(f"{root}: no questions.jsonl")
    questions = load_questions(qfile)
    turns = load_questions(root / "conversation.jsonl") if (root / "conversation.jsonl").is_file() else []
    docs = docs_folder(root)
    if index is None:
        tag = hashlib.sha256(str(docs.resolve()).encode()).hexdigest()[:8]
        where = docs.resolve()
        index = Path("indexes") / f"natural-{where.parent.name if where.name == 'docs' else where.name}-{tag}"
    build_index(docs, index, encoder=encoder, progress=progress)
    r = Retriever.open(index, encoder=encoder)
    alone = r.search_many([q.question for q in questions], k=k, mode=mode)
    res = {"set": str(root), "split": root.parent.name, "name": root.name, "docs": str(docs), "index": str(index),
           "mode": mode, "k": k}
    outs = [outcome(q, h) for q, h in zip(questions, alone)]
    res["questions"] = {**summarize(outs), "items": items(outs)}
    if turns:
        in_chat = ask_conversation(r, turns, mode=mode, k=k)
        free = [t for t in turns if not t.depends]
        solo = dict(zip((t.id for t in free), r.search_many([t.question for t in free], k=k, mode=mode)))
        outs = [outcome(t, h, solo.get(t.id)) for t, h in zip(turns, in_chat)]
        res["conversation"] = summarize_conversation(outs)
        res["conversation"]["gap"] = rewrite_gap(r, [t for t in turns if t.depends and t.rewrite and t.gold],
                                                 {t.id: h for t, h in zip(turns, in_chat)}, mode, k)
        res["conversation"]["turns"] = items(outs)
    return res


def rewrite_gap(retriever, follow_ups: Sequence[Question], in_chat: dict[str, Sequence[Hit]], mode: str, k: int) -> dict:
    """Top-3 of the answerable follow-ups asked bare (no history), in the conversation, and as their
    self-contained rewrite; ``closed``: the share of the bare -> rewrite gap the conversation closes."""
    if not follow_ups:
        return {"n": 0, "raw": None, "chat": None, "rewrite": None, "closed": None}
    bare = retriever.search_many([t.question for t in follow_ups], k=k, mode=mode)
    rew = retriever.search_many([t.rewrite for t in follow_ups], k=k, mode=mode)
    top3 = lambda t, hits: any(is_right(h, t.gold) for h in hits[:3])  # noqa: E731
    raw_, chat_, rew_ = (sum(top3(t, h) for t, h in zip(follow_ups, hs)) / len(follow_ups)
                         for hs in (bare, [in_chat[t.id] for t in follow_ups], rew))
    closed = round((chat_ - raw_) / (rew_ - raw_), 4) if rew_ > raw_ else None
    return {"n": len(follow_ups), "raw": round(raw_, 4), "chat": round(chat_, 4), "rewrite": round(rew_, 4), "closed": closed}


def items(outs: Sequence[Outcome]) -> list[dict]:
    """One record per question: what came back (for --json)."""
    return [{"id": o.question.id, "question": o.question.question, "kind": o.question.kind, "depends": o.question.depends,
             "verdict": o.verdict, "confidence": o.confidence, "top1": o.top1, "top3": o.top3,
             "same_as_alone": o.same_as_alone, "top3_places": [list(p) for p in o.places]} for o in outs]


def _pct(x: float | None) -> str:
    return "   -" if x is None else f"{100 * x:4.0f}"


def _table(title: str, rows: dict) -> list[str]:
    out = [f"  {title:<14}{'n':>4} {'top1':>5} {'top3':>5} {'answer':>7} {'weak':>5} {'notfound':>9}"]
    for name, r in rows.items():
        out.append(f"  {name:<14}{r['n']:>4} {_pct(r['top1']):>5} {_pct(r['top3']):>5} {_pct(r['answer']):>7} "
                   f"{_pct(r['weak']):>5} {_pct(r['not_found']):>9}")
    return out


def _summary_lines(s: dict) -> list[str]:
    area = "-" if s["auroc"] is None else f"{s['auroc']:.3f}"
    return [f"  answerable {s['answerable']}: top-1 {_pct(s['top1']).strip()}%, top-3 {_pct(s['top3']).strip()}%, "
            f"false 'not in your documents' {_pct(s['false_not_found']).strip()}%, answer {_pct(s['answer']).strip()}%, "
            f"weak {_pct(s['weak']).strip()}%",
            f"  unanswerable+offtopic {s['negatives']}: not found {_pct(s['negatives_not_found']).strip()}%, "
            f"not 'answer' {_pct(s['negatives_not_answer']).strip()}%",
            f"  AUROC of the top confidence (right top-1 vs unanswerable/offtopic): {area}"]


def format_report(res: dict) -> str:
    q = res["questions"]
    out = [f"natural questions: {res['split']}/{res['name']} ({res['set']}), mode {res['mode']}, k {res['k']}",
           f"  documents {res['docs']}, index {res['index']}", "", "questions asked alone:", *_summary_lines(q), "",
           *_table("kind", q["by_kind"]), "", *_table("style", q["by_style"])]
    c = res.get("conversation")
    if c:
        sc, dp = c["self_contained"], c["depends"]
        out += ["", f"conversation ({c['n']} turns, asked in order with history):", *_summary_lines(c),
                f"  self-contained turns {sc['n']}: same top 3 as asked alone {_pct(sc['same_as_alone']).strip()}%, "
                f"top-1 {_pct(sc['top1']).strip()}%, not found {_pct(sc['not_found']).strip()}%",
                f"  follow-ups {dp['n']}: top-1 {_pct(dp['top1']).strip()}%, top-3 {_pct(dp['top3']).strip()}%, "
                f"answer {_pct(dp['answer']).strip()}%, not found {_pct(dp['not_found']).strip()}%"]
        g = c.get("gap") or {}
        if g.get("n"):
            closed = "-" if g["closed"] is None else f"{100 * g['closed']:.0f}%"
            out.append(f"  follow-ups with a rewrite {g['n']}: top-3 asked bare {_pct(g['raw']).strip()}%, in the "
                       f"conversation {_pct(g['chat']).strip()}%, as rewritten {_pct(g['rewrite']).strip()}%: "
                       f"gap closed {closed}")
    return "\n".join(out)


def run_cli(args) -> int:

    mode = "hybrid" if args.mode == "all" else args.mode
    return run_and_print(lambda bar: evaluate_natural(args.data_dir, index=args.index, mode=mode, progress=bar),
                         args.json, format_report)


__all__ = ["Gold", "Outcome", "Question", "evaluate_natural", "format_report", "is_right", "load_questions",
           "outcome", "summarize", "summarize_conversation"]
