"""Does the answer sentence contain the answer? Before/after on questions whose answer span is known.

usage: python bench/answer_sentences.py [--scifact DIR] [--cast DIR] [--json]

No SQuAD is available offline, so two sets are built here from public data in ../shared/data:

1. Cloze-style wh-questions (SQuAD-like, generated): from each passage of three or more sentences
   (CAsT 2022 response passages; SciFact abstracts), a sentence holding a year, a number or a name
   becomes a question: that span is removed (it is the answer), the matching question word
   (when / how many / what percentage / where / who / what) goes first, stopwords and a third of
   the rest are dropped but for at most four near the answer, and neighbours are swapped (seeded,
   deterministic), so that the question shares few words with its sentence. The passage is the context. Passages are split by a hash of their text into DEV (tune on it) and HELD-OUT.
2. Human questions: SciFact claims against their gold abstracts, with the sentences the annotators
   marked as rationale (train split = dev, test split = held-out); a hit is a chosen sentence that
   overlaps a rationale.

Each set is scored with the answer sentence as shipped before this change (lexical + static dense
similarity) and with the answer-type bonus (`question=` passed to `best_sentence`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rag.documents.chunking import text_hash
from rag.documents.sentences import sentence_spans
from rag.documents.tokens import STOPWORDS_EN, tokenize, tokenize_many
from rag.embedding.model import default_model_dir, model_info
from rag.embedding.onnx_encoder import load_query_encoder
from rag.evaluation import beir
from rag.search import answer as answer_mod
from rag.search.view import DEFAULT_SETTINGS, TermStats
from rag.types import Passage

EXTRA_STOP = STOPWORDS_EN | frozenset("which were has have had been its from also than more most can may".split())
YEAR = re.compile(r"\b(1[5-9]\d\d|20[0-2]\d)\b")
PERCENT = re.compile(r"\b\d+(?:\.\d+)?\s?(?:%|percent)")
NUMBER = re.compile(r"\b\d[\d,]*(?:\.\d+)?(?:\s(?:million|billion|thousand|hundred))?\b")
NAME = re.compile(r"\b[A-Z][a-z]+(?:\s[A-Z][a-z]+)+\b")
PLACE = re.compile(r"\b(?:in|at|from|near)\s((?:the\s)?[A-Z][a-z]+(?:\s[A-Z][a-z]+)*)")


KEEP = 4


@dataclass
class Item:
    question: str
    passage: Passage
    answers: list[tuple[int, int]]  # char ranges in passage.text; a chosen sentence overlapping one counts


def passage(text: str, source: str) -> Passage:
    return Passage(text, source, 1, 1, 1, 0, len(text), text_hash(text))


def cloze(p: Passage, rng: random.Random) -> list[Item]:
    spans = sentence_spans(p.text)
    if len(spans) < 3:
        return []
    out = []
    for a, b in spans:
        sent = p.text[a:b]
        found = None
        for pattern, wh in ((YEAR, "when"), (PERCENT, "what percentage"), (PLACE, "where"), (NUMBER, "how many"),
                            (NAME, "who")):
            m = pattern.search(sent)
            if m and m.start() > 0:
                g = 1 if pattern is PLACE else 0
                found = (m.start(g), m.end(g), wh)
                break
        if found is None:
            continue
        s0, s1, wh = found
        left, right = sent[:s0], sent[s1:]
        if wh == "where":
            left = re.sub(r"\b(?:in|at|from|near)\s*$", "", left)
        ws = [w for w in re.findall(r"[A-Za-z][\w'-]*", left + " " + right) if w.lower() not in EXTRA_STOP]
        # Keep a few words near the answer, as a human asker would (SQuAD questions share few words
        # with their sentence): up to KEEP words, from the answer's neighbourhood outwards.
        near = sorted(range(len(ws)), key=lambda i: abs(i - len(re.findall(r"[A-Za-z][\w'-]*", left)) * 0.6))
        keep = sorted(i for i in near[: KEEP * 2] if rng.random() < 0.5)[:KEEP]
        ws = [ws[i] for i in keep]
        for i in range(len(ws) - 1):
            if rng.random() < 0.25:
                ws[i], ws[i + 1] = ws[i + 1], ws[i]
        if len(ws) < 2:
            continue
        out.append(Item(f"{wh.capitalize()} {' '.join(ws)}?", p, [(a + s0, a + s1)]))
    rng.shuffle(out)
    return out[:2]  # at most two questions per passage, so that long passages do not dominate


def human(ds: beir.Dataset, split: str) -> list[Item]:
    by_id = {p.source: p for p in ds.passages}
    out = []
    path = Path(ds.root) / f"rationales-{split}.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        p, q = by_id.get(str(d["corpus-id"])), ds.queries.get(str(d["query-id"]))
        if p is None or q is None:
            continue
        if d["spans"]:
            out.append(Item(q, p, [(int(s[0]), int(s[1])) for s in d["spans"]]))
    return out


def score(items: list[Item], enc, idf, with_type: bool, dense_weight: float = DEFAULT_SETTINGS.answer_dense_weight) -> float:
    hits = 0
    for it in items:
        p = it.passage
        spans = answer_mod.sentence_candidates(p)
        vecs = enc.static_vectors([it.question] + [p.text[a:b][:DEFAULT_SETTINGS.answer_max_chars] for a, b in spans])
        dense = (vecs[1:] @ vecs[0]).tolist()
        ans = answer_mod.best_sentence(tokenize(it.question), p, idf, spans=spans, dense=dense, dense_weight=dense_weight,
                                       question=it.question if with_type else None)
        a, b = ans.char_start - p.char_start, ans.char_end - p.char_start
        hits += any(x < b and y > a for x, y in it.answers)
    return hits / max(len(items), 1)


def idf_of(texts: list[str]):
    """BM25's idf of a term in ``texts``, by the formula the retriever's answer sentences use."""
    df = Counter(t for toks in tokenize_many(texts) for t in set(toks))
    return TermStats(lambda t: df.get(t, 0), len(texts), specific_idf_share=1.0).idf


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scifact", default="../shared/data/scifact")
    ap.add_argument("--cast", default="../shared/data/cast2022")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    train, test = beir.load(args.scifact, "train"), beir.load(args.scifact, "test")
    cast = [passage(beir.record_text(json.loads(x)), "cast") for x in
            (Path(args.cast) / "corpus.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    rng = random.Random(12)
    pool = cast + train.passages
    idf = idf_of([p.text for p in pool])
    sets: dict[str, list[Item]] = {"cloze-dev": [], "cloze-heldout": []}
    for p in pool:
        items = cloze(p, rng)
        half = "dev" if hashlib.sha256(p.text.encode()).digest()[0] % 2 == 0 else "heldout"
        sets[f"cloze-{half}"].extend(items)
    sets["scifact-rationale-train(dev)"] = human(train, "train")
    sets["scifact-rationale-test(heldout)"] = human(test, "test")
    mdir = default_model_dir()
    enc = load_query_encoder(mdir, model_info(mdir))
    report = {}
    for name, items in sets.items():
        report[name] = {"questions": len(items), "before": round(score(items, enc, idf, False), 4),
                        "after": round(score(items, enc, idf, True), 4)}
    examples = [it.question + "  ->  " + it.passage.text[it.answers[0][0]:it.answers[0][1]] for it in sets["cloze-heldout"][:6]]
    if args.json:
        print(json.dumps({"sets": report, "examples": examples}, indent=1))
        return 0
    print(f"{'chosen sentence contains the answer':38}{'questions':>10}{'before':>9}{'after':>9}")
    for name, row in report.items():
        print(f"{name:38}{row['questions']:>10}{row['before']:>9.4f}{row['after']:>9.4f}")
    print("examples of generated questions (-> answer):")
    for e in examples:
        print("  ", e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
