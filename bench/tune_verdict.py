"""Tune the verdict's calibration on the natural-question development sets (tune halves only).

For each set under bench/devsets (never bench/heldout), the index is built once; the label-free
calibration set is drawn with each pseudo-question generator, the confidence model fitted with each
setting (rag.indexing.calibration.FitSettings), and the set's questions (alone and in conversation)
asked again with that model. Prints
false "not in your documents" (answerable), answerable shown as answer, negatives not called an
answer / called not found, and the AUROC, per set and pooled.

    python bench/tune_verdict.py [bench/devsets/seed ...]
"""

from __future__ import annotations

import random
import re
import sys
from functools import partial
from pathlib import Path

from harness import with_calibration
from rag import Retriever, build_index
from rag.documents.tokens import STOPWORDS_EN
from rag.evaluation.natural import (ask_conversation, docs_folder, load_questions, outcome, summarize,
                                    summarize_conversation)
from rag.indexing.calibration import DEFAULT_SETTINGS, calibration_set, claim_question, fit_calibration

_WORD = re.compile(r"[^\W_][\w'’-]*")


def keyword_question(sentence: str, rng: random.Random, extra=(), vocab=(), swap: float = 0.15) -> str | None:
    """A question as typed into a search box ("Sochi dates", "who leads the party"): two to five content
    words of the sentence, in order, one sometimes swapped for an asker's own word, sometimes led by a
    question word. None for a short or numeric sentence. (A candidate generator; the build uses
    claim_question.)"""
    ws = [w for w in _WORD.findall(sentence) if w.lower() not in STOPWORDS_EN]
    if len(ws) < 4 or sum(w[0].isdigit() for w in ws) > len(ws) / 3:
        return None
    kept = [ws[i] for i in sorted(rng.sample(range(len(ws)), rng.randint(2, min(5, len(ws)))))]
    if vocab and rng.random() < swap * 2:
        kept[rng.randrange(len(kept))] = rng.choice(vocab)
    q = " ".join(kept)
    return f"{rng.choice(('what', 'who', 'when', 'how', 'why', 'which'))} {q}?" if rng.random() < 0.5 else q


def natural_question(sentence: str, rng: random.Random, extra=(), vocab=()) -> str | None:
    """Half claim-like restatements, half few-word questions."""
    return (keyword_question if rng.random() < 0.5 else claim_question)(sentence, rng, extra, vocab)


SETS = [Path("bench/devsets") / n for n in ("seed", "httpx", "scifact-natural")]
GENERATORS = {
    "claim+swap.15": partial(claim_question, swap=0.15),
    "claim (build)": claim_question,
    "keyword": keyword_question,
    "mixed": natural_question,
}
# Feature subsets were tried here before; rag now computes two features (cos, coverage), so the
# fitting settings left to vary are l2 and the negatives' shares (bench/abstention_tune.py grids them).
SETTINGS = {"default": DEFAULT_SETTINGS}


def pct(x) -> str:
    return "   -" if x is None else f"{100 * x:4.0f}"


def measure(r: Retriever, root: Path) -> dict:
    questions = load_questions(root / "questions.jsonl")
    outs = [outcome(q, h) for q, h in zip(questions, r.search_many([q.question for q in questions], k=5))]
    res = {"alone": summarize(outs)}
    if (root / "conversation.jsonl").is_file():
        turns = load_questions(root / "conversation.jsonl")
        res["chat"] = summarize_conversation([outcome(t, h) for t, h in zip(turns, ask_conversation(r, turns))])
    return res


def main(argv: list[str]) -> int:
    sets = [Path(a) for a in argv] or SETS
    if any("heldout" in str(s) for s in sets):
        print("tune on bench/devsets only; bench/heldout is for reporting (rag eval)", file=sys.stderr)
        return 2
    print(f"{'set':16} {'generator':13} {'settings':15} {'falseNF':>7} {'answer':>6} {'negNotAns':>9} "
          f"{'negNF':>5} {'auroc':>5} | chat {'falseNF':>7} {'answer':>6}")
    for root in sets:
        index = Path("indexes") / f"tune-verdict-{root.name}"
        build_index(docs_folder(root), index)
        r = Retriever.open(index)
        enc = r.encoder()
        for gname, gen in GENERATORS.items():
            cs = calibration_set(r.index, enc.encode, make_question=gen)
            for sname, settings in SETTINGS.items():
                m = measure(with_calibration(r, fit_calibration(cs, settings)), root)
                a, c = m["alone"], m.get("chat", {})
                print(f"{root.name:16} {gname:13} {sname:15} {pct(a['false_not_found']):>7} {pct(a['answer']):>6} "
                      f"{pct(a['negatives_not_answer']):>9} {pct(a['negatives_not_found']):>5} "
                      f"{a['auroc'] or 0:5.3f} | chat {pct(c.get('false_not_found')):>7} {pct(c.get('answer')):>6}",
                      flush=True)
    return 0


if __name__ == "__main__":
    random.seed(0)
    raise SystemExit(main(sys.argv[1:]))
