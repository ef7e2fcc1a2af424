"""``rag eval --conversations``: follow-up questions on a conversational set (TREC CAsT layout).

The set is a folder with ``conversations.jsonl`` (one turn a line: ``topic``, ``turn``,
``question``, ``history`` (earlier questions, oldest first), ``rewrite`` (a manual self-contained
rewrite), ``gold`` (the corpus id of the passage that answers it, or null)) and ``corpus.jsonl``
(BEIR-style passages). The pool searched is that corpus plus the passages of a distractor corpus
(another BEIR folder, e.g. SciFact), indexed once and cached under ``indexes/``.

Every turn with a gold passage is searched four ways: the raw question alone; the raw question
with its history (``Retriever.search(..., history=...)``, the earlier questions only); the raw
question with its history and the answers the user was shown (``history_answers``: the gold
passages of the earlier turns, which is what CAsT's conversations were written against, its
"canonical responses"; an earlier turn without one gives none); and the manual rewrite alone (the
upper bound). Turns are grouped as *follow-ups* (with history, rewrite differs from the question),
*self-contained* (with history, rewrite equals the question) and *first* turns (no history). The
topics are reported in two halves by parity of their number ("even", "odd"). Both halves of CAsT
2022 were read while the follow-up rules were written, so neither is held out: figures on it are
development figures. Report held-out follow-up figures on a set that was never read (bench/heldout).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from rag.errors import DataError
from rag.documents.chunking import text_hash
from rag.evaluation.beir import _jsonl, record_text
from rag.evaluation.report import print_per_mode
from rag.indexing.build import build_passages
from rag.search.retriever import Retriever
from rag.types import Passage

VARIANTS = ("raw", "history", "history+answers", "rewrite")
GROUPS = ("follow-up", "self-contained", "first")


@dataclass(frozen=True, slots=True)
class Turn:
    topic: str
    turn: str
    question: str
    history: tuple[str, ...]
    rewrite: str
    gold: str
    shown: tuple[str | None, ...] = ()  # the gold passage id of each earlier turn (the answer shown), or None

    @property
    def group(self) -> str:
        if not self.history:
            return "first"
        return "self-contained" if " ".join(self.rewrite.split()) == " ".join(self.question.split()) else "follow-up"

    @property
    def half(self) -> str:
        try:
            return "even" if int(self.topic) % 2 == 0 else "odd"
        except ValueError:
            return "even" if sum(map(ord, self.topic)) % 2 == 0 else "odd"


def load_turns(root: Path) -> list[Turn]:
    """The distinct turns that have a gold passage (repeated branch prefixes counted once)."""
    seen, out, gold_of = set(), [], {}
    for d in _jsonl(Path(root) / "conversations.jsonl"):
        try:
            t = Turn(str(d["topic"]), str(d.get("turn", "")), str(d["question"]), tuple(map(str, d.get("history") or ())),
                     str(d.get("rewrite") or d["question"]), "" if d.get("gold") is None else str(d["gold"]))
        except KeyError as exc:
            raise DataError(f"{root}/conversations.jsonl: a turn lacks {exc}") from None
        key = (t.topic, t.question, t.history)
        gold_of.setdefault(key, t.gold or None)
        if t.gold and key not in seen:
            seen.add(key)
            out.append(t)
    # each earlier turn's answer: the gold of that turn in the same branch (its own history is the prefix)
    out = [replace(t, shown=tuple(gold_of.get((t.topic, q, t.history[:i])) for i, q in enumerate(t.history)))
           for t in out]
    if not out:
        raise DataError(f"{root}/conversations.jsonl has no turn with a gold passage")
    return out


def _passages(root: Path, prefix: str, limit: int | None = None) -> list[Passage]:
    out = []
    for line_no, rec in enumerate(_jsonl(Path(root) / "corpus.jsonl"), start=1):
        text = record_text(rec)
        if text:
            out.append(Passage(text, f"{prefix}{rec['_id']}", line_no, line_no, 1, 0, len(text), text_hash(text)))
        if limit is not None and len(out) >= limit:
            break
    return out


def evaluate_followups(data_dir: str | Path, distractors: str | Path | None = None, distractor_limit: int | None = None,
                       mode: str = "hybrid", k: int = 3,
                       index: str | Path | None = None, progress=None, encoder=None) -> dict:


    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    turns = load_turns(root)
    passages = _passages(root, "c:")
    files = {"corpus.jsonl": {"sha256": hashlib.sha256((root / "corpus.jsonl").read_bytes()).hexdigest()}}
    if distractors is not None:
        dpath = Path(distractors)
        passages += _passages(dpath, "d:", distractor_limit)
        files["distractors.jsonl"] = {"sha256": hashlib.sha256((dpath / "corpus.jsonl").read_bytes()).hexdigest(),
                                      "limit": distractor_limit}
    name = f"conv-{root.name}" + (f"+{Path(distractors).name}" if distractors else "")
    index_dir = Path(index) if index else Path("indexes") / name
    build_passages(index_dir, passages, files, progress=progress, encoder=encoder)
    r = Retriever.open(index_dir, encoder=encoder)
    counts: dict[tuple[str, str], int] = {}
    found: dict[tuple[str, str, str], int] = {}
    depends: dict[tuple[str, str], int] = {}
    text_of = {p.source: p.text for p in passages}
    for t in turns:
        gold = f"c:{t.gold}"
        shown = [text_of.get(f"c:{g}") if g else None for g in t.shown]
        raw, hist, ans = r.search_many([t.question] * 3, k=k, mode=mode, answers=False,
                                       histories=[[], list(t.history), list(t.history)], history_answers=[None, None, shown])
        (rew,) = r.search_many([t.rewrite], k=k, mode=mode, answers=False)
        for half in (t.half, "all"):
            counts[(half, t.group)] = counts.get((half, t.group), 0) + 1
            for name, hits in (("raw", raw), ("history", hist), ("history+answers", ans), ("rewrite", rew)):
                key = (half, t.group, name)
                found[key] = found.get(key, 0) + any(h.source == gold for h in hits)
            if t.history:
                d = r.follow_up(t.question, list(t.history)).depends
                depends[(half, t.group)] = depends.get((half, t.group), 0) + d
    out = {"dataset": root.name, "distractors": str(distractors) if distractors else None, "mode": mode, "k": k,
           "passages": len(passages), "turns": len(turns), "index": str(index_dir), "halves": {}}
    for half in ("even", "odd", "all"):
        res = {}
        for g in GROUPS:
            n = counts.get((half, g), 0)
            if not n:
                continue
            row = {"turns": n, **{f"recall@{k} {v}": round(found[(half, g, v)] / n, 4) for v in VARIANTS}}
            if g != "first":
                row["judged dependent"] = round(depends.get((half, g), 0) / n, 4)
            raw_, hist_, ans_, rew_ = (found[(half, g, v)] / n for v in VARIANTS)
            if g == "follow-up" and rew_ > raw_:
                row["gap closed"] = round((hist_ - raw_) / (rew_ - raw_), 4)
                row["gap closed with answers"] = round((ans_ - raw_) / (rew_ - raw_), 4)
            res[g] = row
        out["halves"][half] = res
    return out


def format_followups(res: dict) -> str:
    k = res["k"]
    lines = [f"{res['dataset']}: {res['turns']} turns over {res['passages']} passages, {res['mode']}, recall@{k} of the gold passage", "",
             f"{'half':<5} {'turns':<15} {'n':>4} {'raw':>7} {'history':>8} {'+answers':>8} {'rewrite':>8} {'closed':>7} "
             f"{'+answers':>8} {'dependent':>9}"]
    for half, res_h in res["halves"].items():
        for g, row in res_h.items():
            closed = f"{row['gap closed']:.2f}" if "gap closed" in row else "-"
            closed_a = f"{row['gap closed with answers']:.2f}" if "gap closed with answers" in row else "-"
            dep = f"{row['judged dependent']:.2f}" if "judged dependent" in row else "-"
            lines.append(f"{half:<5} {g:<15} {row['turns']:>4} {row[f'recall@{k} raw']:>7.3f} {row[f'recall@{k} history']:>8.3f} "
                         f"{row[f'recall@{k} history+answers']:>8.3f} {row[f'recall@{k} rewrite']:>8.3f} {closed:>7} "
                         f"{closed_a:>8} {dep:>9}")
    lines += ["", "history: the earlier questions only; +answers: and the passage shown as each earlier answer (the "
              "gold of that turn)"]
    return "\n".join(lines)


def run_cli(args) -> int:

    modes = ("dense", "bm25", "hybrid") if args.mode == "all" else (args.mode,)
    return print_per_mode(
        lambda mode, bar: evaluate_followups(args.data_dir, distractors=args.distractors,
                                             distractor_limit=getattr(args, "distractor_limit", None), mode=mode,
                                             index=args.index, progress=bar),
        modes, args.json, format_followups)
