"""Choose the hybrid fusion settings on SciFact's TRAIN split only, then report them on test.

usage: python bench/tune_fusion.py [DATA_DIR] [--index indexes/beir-scifact]

Grid: BM25 k1/b, fusion method (RRF constant and dense weight; convex combination of min-max or
z-score normalized scores), candidate depth. Dense vectors come from the cached evaluation index.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np

from rag.evaluation import beir
from rag.indexing.build import build_passages
from rag.index.lexical import BM25Index
from rag.documents.tokens import tokenize, tokenize_many
from rag.evaluation.metrics import ndcg_at
from rag.search.retriever import Retriever


def dense_candidates(r: Retriever, questions: list[str], depth: int):
    q = r.encoder().encode(questions)
    scores, ids = r.index.dense_positions(q, depth)
    return ids, scores


def norm(s: np.ndarray, how: str) -> np.ndarray:
    if s.size == 0:
        return s
    if how == "minmax":
        lo, hi = s.min(), s.max()
        return (s - lo) / (hi - lo) if hi > lo else np.ones_like(s)
    sd = s.std()
    return (s - s.mean()) / sd if sd > 0 else np.zeros_like(s)


def fuse_eval(ds, qids, passages_ids, dense_ids, dense_sc, lex_scores, cfg) -> float:
    method, p1, p2, depth = cfg
    total = 0.0
    for qi, q in enumerate(qids):
        di, dsc = dense_ids[qi][:depth], dense_sc[qi][:depth]
        li, lsc = lex_scores[qi]
        li, lsc = li[:depth], lsc[:depth]
        fused: dict[int, float] = {}
        if method == "rrf":
            for r_, d in enumerate(di, 1):
                fused[d] = fused.get(d, 0) + p2 / (p1 + r_)
            for r_, d in enumerate(li, 1):
                fused[d] = fused.get(d, 0) + 1.0 / (p1 + r_)
        else:
            dn = norm(dsc, method)
            ln = norm(lsc, method)
            floor_d = dn.min() if dn.size else 0.0
            floor_l = ln.min() if ln.size else 0.0
            dd = dict(zip(di.tolist(), dn.tolist()))
            ll = dict(zip(li.tolist(), ln.tolist()))
            for d in set(dd) | set(ll):
                fused[d] = p1 * dd.get(d, floor_d) + (1 - p1) * ll.get(d, floor_l)
        top = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        total += ndcg_at([passages_ids[i] for i, _ in top], ds.qrels[q], 10)
    return total / len(qids)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir", nargs="?", default="../shared/data/scifact")
    ap.add_argument("--index", default="indexes/beir-scifact")
    args = ap.parse_args()
    t0 = time.time()
    train = beir.load(args.data_dir, "train")
    test = beir.load(args.data_dir, "test")
    build_passages(args.index, train.passages, {"corpus.jsonl": {"sha256": train.corpus_sha256}})
    r = Retriever.open(args.index)
    pids = [p.source for p in r.passages]
    corpus_tokens = tokenize_many([p.text for p in r.passages])

    def prepare(ds):
        qids = sorted(ds.queries)
        qs = [ds.queries[q] for q in qids]
        di, dsc = dense_candidates(r, qs, 300)
        return qids, qs, di, dsc

    tr = prepare(train)
    results = []
    for k1, b in itertools.product((0.9, 1.2, 1.5, 2.0), (0.5, 0.75, 0.9)):
        bm = BM25Index.build(corpus_tokens, k1=k1, b=b)
        lex = [bm.top(tokenize(q), 300) for q in tr[1]]
        bm25_only = fuse_eval(train, tr[0], pids, tr[2], tr[3], lex, ("rrf", 60, 0.0, 100))
        grid = [("rrf", k, w, d) for k in (5, 10, 20, 40, 60, 100) for w in (0.6, 0.8, 1.0, 1.25, 1.5) for d in (50, 100, 300)]
        grid += [(m, a, 0, d) for m in ("minmax", "zscore") for a in (0.3, 0.4, 0.5, 0.6, 0.7) for d in (50, 100, 300)]
        for cfg in grid:
            results.append(((k1, b), cfg, fuse_eval(train, tr[0], pids, tr[2], tr[3], lex, cfg), bm25_only))
    results.sort(key=lambda x: -x[2])
    print("best on train:")
    for (k1b, cfg, nd, bmo) in results[:10]:
        print(f"  k1,b={k1b} fusion={cfg} ndcg@10={nd:.4f} (bm25 alone {bmo:.4f})")
    (k1, b), cfg, nd, _ = results[0]
    te = prepare(test)
    bm = BM25Index.build(corpus_tokens, k1=k1, b=b)
    lex = [bm.top(tokenize(q), 300) for q in te[1]]
    test_nd = fuse_eval(test, te[0], pids, te[2], te[3], lex, cfg)
    base = fuse_eval(test, te[0], pids, te[2], te[3], [BM25Index.build(corpus_tokens).top(tokenize(q), 300) for q in te[1]], ("rrf", 60, 1.0, 100))
    print(json.dumps({"chosen": {"k1": k1, "b": b, "fusion": cfg}, "train_ndcg@10": round(nd, 4),
                      "test_ndcg@10": round(test_nd, 4), "test_plain_rrf": round(base, 4), "seconds": round(time.time() - t0)}))


if __name__ == "__main__":
    main()
