"""Cost of the answer sentence per query, and a check that it still picks the same sentences.

Runs SciFact questions one at a time on indexes/beir-scifact (hybrid, k=10). For each question the
hits are found once (without answers); then the shipped ``Retriever.add_answers`` and a copy of the
code it replaced (the per-sentence version, kept below as ``reference_add_answers``) set answers
on copies of them, in alternating order, and every field of every answer is compared. The whole
search (answers on) is also timed with either version, interleaved, on two retrievers that share
one query encoder.

    .venv/bin/python bench/answers_speed.py                # timing + check, 300 test questions
    .venv/bin/python bench/answers_speed.py --solo new     # one version alone in this process
    .venv/bin/python bench/answers_speed.py --check-only --split train
    .venv/bin/python bench/answers_speed.py --save answers.json      # answers of the current code
    .venv/bin/python bench/answers_speed.py --against answers.json   # same hits, answers compared

``--save``/``--against`` compare with answers saved by another checkout (e.g. before a change),
on the same passages, so a change of ranking (say a new query encoder) does not count. Run both
with the same ``PYTHONHASHSEED``: a sentence's weight is summed over a set of terms, in an order
that follows string hashing, so between processes a score may differ in its last bit.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag import Retriever, beir  # noqa: E402
from rag.search.answer import locate, sentence_candidates  # noqa: E402
from rag.documents.tokens import TOKEN_RE, _stemmer, _stopwords  # noqa: E402
from rag.search.retriever import ANSWER_DENSE_WEIGHT, ANSWER_MAX_CHARS, clean_question  # noqa: E402
from rag.embedding.static_vectors import StaticVectors  # noqa: E402
from rag.types import Hit  # noqa: E402

DATA = Path("/work/shared/data/scifact")
INDEX = REPO / "indexes" / "beir-scifact"


# ------------------------------------------------------------------ the replaced code (e74b496)
_OLD_STEMS: dict[str, str] = {}


def old_tokenize(text: str) -> list[str]:
    stop = _stopwords()
    out = []
    for w in TOKEN_RE.findall(text.lower()):
        if w in stop:
            continue
        s = _OLD_STEMS.get(w)
        if s is None:
            s = _OLD_STEMS[w] = _stemmer().stemWord(w)
        out.append(s)
    return out


def old_lexical_scores(question_terms, passage, spans, idf) -> list[float]:
    q = set(question_terms)
    out = []
    for a, b in spans:
        terms = old_tokenize(passage.text[a:b])
        if not terms:
            out.append(0.0)
            continue
        matched = q.intersection(terms)
        weight = sum(idf(t) for t in matched)
        out.append(weight / math.log(2.0 + len(terms)))
    return out


def old_best_sentence(question_terms, passage, idf, spans, dense, dense_weight):
    lex = old_lexical_scores(question_terms, passage, spans, idf)
    top = max(lex) if lex else 0.0
    scores = []
    if dense is not None and len(dense) > 1:
        lo, hi = min(dense), max(dense)
        dense = [(d - lo) / (hi - lo) if hi > lo else 1.0 for d in dense]
    for i in range(len(spans)):
        s = lex[i] / top if top > 0 else 0.0
        if dense is not None:
            s = (1.0 - dense_weight) * s + dense_weight * dense[i]
        scores.append(s)
    best = max(range(len(spans)), key=lambda i: (scores[i], -i))
    a, b = spans[best]
    return locate(passage, a, b, scores[best])


class OldStaticVectors:
    _WORD = re.compile(r"\w+")

    def __init__(self, word: np.ndarray, tokenizer) -> None:
        self.word, self.tokenizer = word, tokenizer
        self._pieces: dict[str, tuple[int, ...]] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        word = self.word
        out = np.zeros((len(texts), word.shape[1]), dtype=np.float32)
        ids: list[int] = []
        starts: list[int] = []
        rows: list[int] = []
        for i, text in enumerate(texts):
            pieces = [p for w in self._WORD.findall(text.lower()) for p in self._pieces_of(w)]
            if pieces:
                rows.append(i)
                starts.append(len(ids))
                ids.extend(pieces)
        if ids:
            sums = np.add.reduceat(word[np.asarray(ids)], np.asarray(starts), axis=0)
            norms = np.linalg.norm(sums, axis=1, keepdims=True)
            out[rows] = sums / np.maximum(norms, 1e-12)
        return out

    def _pieces_of(self, w: str) -> tuple[int, ...]:
        ids = self._pieces.get(w)
        if ids is None:
            ids = self._pieces[w] = tuple(self.tokenizer.encode(w, add_special_tokens=False).ids)
        return ids


def reference_add_answers(self, hits, question, terms=None, qvec=None, *, sv: OldStaticVectors) -> None:
    if not hits:
        return
    if terms is None:
        terms = old_tokenize(clean_question(question))
    spans = [sentence_candidates(self.passages_by_hit(h)) for h in hits]
    dense: list = [None] * len(hits)
    if ANSWER_DENSE_WEIGHT > 0:
        texts = [h.text[a:b][:ANSWER_MAX_CHARS] for h, sp in zip(hits, spans) for a, b in sp]
        vecs = sv([clean_question(question)] + texts)
        sims = (vecs[1:] @ vecs[0]).tolist()
        pos = 0
        for i, sp in enumerate(spans):
            dense[i] = sims[pos : pos + len(sp)]
            pos += len(sp)
    for i, h in enumerate(hits):
        h.answer = old_best_sentence(terms, self.passages_by_hit(h), self.idf, spans[i], dense[i], ANSWER_DENSE_WEIGHT)


# ------------------------------------------------------------------ measuring
def questions(split: str) -> list[str]:
    ds = beir.load(DATA, split)
    return [ds.queries[q] for q in sorted(ds.queries)]


def hit_of(r: Retriever, row: int) -> Hit:
    p = r.passages[row]
    return Hit(row=row, rank=0, score=0.0, text=p.text, source=p.source, path=p.source, line_start=p.line_start,
               line_end=p.line_end, paragraph=p.paragraph, char_start=p.char_start, char_end=p.char_end)


def fields(h) -> list:
    a = h.answer
    return [h.row, a.char_start, a.char_end, a.score, a.line_start, a.col_start, a.line_end, a.col_end]


def ms(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1e3:.2f} ms"


def p90(xs: list[float]) -> str:
    return f"{np.percentile(xs, 90) * 1e3:.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="test")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--check-only", action="store_true", help="compare answers, no timing")
    ap.add_argument("--solo", choices=("new", "old"), help="time one version alone (fresh caches)")
    ap.add_argument("--save", type=Path, help="write the current code's answers (JSON)")
    ap.add_argument("--against", type=Path, help="compare with answers written by --save")
    args = ap.parse_args()

    r = Retriever.open(INDEX)
    enc = r.encoder()
    table = StaticVectors.load(Path(enc.model_dir))  # the table and tokenizer every encoder uses
    sv = OldStaticVectors(table.word, table.tokenizer)
    old = Retriever.open(INDEX, encoder=enc)
    old.add_answers = types.MethodType(lambda self, *a, **kw: reference_add_answers(self, *a, sv=sv, **kw), old)
    qs = questions(args.split)

    if args.save or args.against:
        saved = json.loads(args.against.read_text()) if args.against else None
        out, differ, n = [], 0, 0
        for qi, q in enumerate(qs):
            if saved is not None:
                assert saved[qi]["q"] == q
                hits = [hit_of(r, row[0]) for row in saved[qi]["hits"]]
            else:
                hits = r.search(q, k=args.k, answers=False)
            r.add_answers(hits, q)
            got = [fields(h) for h in hits]
            out.append({"q": q, "hits": got})
            if saved is not None:
                n += len(got)
                differ += sum(g != s for g, s in zip(got, saved[qi]["hits"]))
        if args.save:
            args.save.write_text(json.dumps(out))
            print(f"saved {sum(len(x['hits']) for x in out)} answers of {len(qs)} questions to {args.save}")
        if saved is not None:
            print(f"{args.split}: {n} answers compared with {args.against}, {differ} differ")
        return

    if args.solo:
        who = r if args.solo == "new" else old
        ts = []
        for hits, q in zip([r.search(q, k=args.k, answers=False) for q in qs], qs):
            t0 = time.perf_counter()
            who.add_answers(hits, q)
            ts.append(time.perf_counter() - t0)
        print(f"{args.split}: add_answers p50 {ms(ts)} (p90 {p90(ts)}), {args.solo} version alone")
        return

    # The hits first: add_answers is timed apart from the searches (an encoder's worker threads can
    # still be busy right after a search, and on two cores that doubles what comes next).
    found = [r.search(q, k=args.k, answers=False) for q in qs]
    t_new, t_old, c_new, c_old, s_new, s_old = [], [], [], [], [], []
    n = differ = 0
    for qi, (q, hits) in enumerate(zip(qs, found)):
        copy = [dataclasses.replace(h) for h in hits]
        pair = [(r, hits, t_new, c_new), (old, copy, t_old, c_old)]
        for who, hs, ts, cs in pair if qi % 2 else pair[::-1]:
            c0, t0 = time.thread_time(), time.perf_counter()
            who.add_answers(hs, q)
            ts.append(time.perf_counter() - t0)
            cs.append(time.thread_time() - c0)
        n += len(hits)
        differ += sum(fields(a) != fields(b) for a, b in zip(hits, copy))
    print(f"{args.split}: {len(qs)} questions, k={args.k}: {n} answers compared, {differ} differ "
          f"(every field, score bit for bit)")
    if args.check_only:
        return
    print(f"add_answers p50: {ms(t_old)} before, {ms(t_new)} now (p90 {p90(t_old)}, {p90(t_new)}); "
          f"its CPU time p50 {ms(c_old)}, {ms(c_new)}")
    for qi, q in enumerate(qs):
        for who, ts in [(r, s_new), (old, s_old)] if qi % 2 else [(old, s_old), (r, s_new)]:
            t0 = time.perf_counter()
            who.search(q, k=args.k)
            ts.append(time.perf_counter() - t0)
    print(f"hybrid search p50 (answers on): {ms(s_old)} before, {ms(s_new)} now")


if __name__ == "__main__":
    main()
