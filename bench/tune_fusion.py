"""Choose BM25's k1 and b (and a fusion setting) on SciFact's TRAIN split only, then report them on test.

usage: python bench/tune_fusion.py [DATA_DIR] [--index indexes/beir-scifact]

Grid: BM25 k1/b, fusion (rag.search.fusion: RRF constant and dense weight; convex combination of
min-max or z-score normalized scores), candidate depth. Dense and BM25 candidates come from the
cached evaluation index (its vectors; its BM25 with each k1/b), questions read by ``query_terms``,
as the retriever reads them. rag's k1/b (rag.index.lexical) were chosen with this; its fusion
default was chosen later, on more collections, with bench/fusion_corpora.py.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np

from rag.documents.tokens import query_terms
from rag.evaluation import beir
from rag.evaluation.metrics import ndcg_at
from rag.index.lexical import BM25_B, BM25_K1
from rag.indexing.build import build_passages
from rag.search.fusion import FusionParams, fuse, ranked
from rag.search.retriever import Retriever

PLAIN_RRF = FusionParams("rrf", rrf_k=60, dense_weight=1.0, depth=100)
BM25_ALONE = FusionParams("rrf", rrf_k=60, dense_weight=0.0, depth=100)


def grid() -> list[FusionParams]:
    g = [FusionParams("rrf", rrf_k=k, dense_weight=w, depth=d)
         for k in (5, 10, 20, 40, 60, 100) for w in (0.6, 0.8, 1.0, 1.25, 1.5) for d in (50, 100, 300)]
    g += [FusionParams(m, alpha=a, depth=d)
          for m in ("weighted", "zscore") for a in (0.3, 0.4, 0.5, 0.6, 0.7) for d in (50, 100, 300)]
    return g


def dense_candidates(r: Retriever, questions: list[str], depth: int):
    scores, ids = r.index.dense_positions(r.encoder().encode(questions), depth)
    return ids, scores


def lexical(r: Retriever, questions: list[str], depth: int, k1: float = BM25_K1, b: float = BM25_B):
    """Each question's ``depth`` best BM25 candidates ``(positions, scores)`` with this k1 and b."""
    out = []
    for q in questions:
        best = ranked(dict(zip(*(a.tolist() for a in r.index.lexical_positions(query_terms(q), k1=k1, b=b)))), depth)
        out.append((np.array([i for i, _ in best], dtype=np.int64), np.array([s for _, s in best], dtype=np.float32)))
    return out


def mean_ndcg(ds, qids, pids, dense_ids, dense_sc, lexical, params: FusionParams) -> float:
    """Mean nDCG@10 of rag's fusion of each question's dense and BM25 candidates, ``params.depth`` a side."""
    d = params.depth
    total = 0.0
    for qi, q in enumerate(qids):
        li, lsc = lexical[qi]
        fused = fuse(params, (dense_ids[qi][:d], dense_sc[qi][:d]), (li[:d], lsc[:d]))
        total += ndcg_at([pids[i] for i, _ in ranked(fused, 10)], ds.qrels[q], 10)
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

    def prepare(ds):
        qids = sorted(ds.queries)
        qs = [ds.queries[q] for q in qids]
        di, dsc = dense_candidates(r, qs, 300)
        return qids, qs, di, dsc

    qids, qs, di, dsc = prepare(train)
    results = []
    for k1, b in itertools.product((0.9, 1.2, 1.5, 2.0), (0.5, 0.75, 0.9)):
        lex = lexical(r, qs, 300, k1, b)
        bm25_only = mean_ndcg(train, qids, pids, di, dsc, lex, BM25_ALONE)
        for params in grid():
            results.append(((k1, b), params, mean_ndcg(train, qids, pids, di, dsc, lex, params), bm25_only))
    results.sort(key=lambda x: -x[2])
    print("best on train:")
    for k1b, params, nd, bmo in results[:10]:
        print(f"  k1,b={k1b} fusion={params} ndcg@10={nd:.4f} (bm25 alone {bmo:.4f})")
    (k1, b), params, nd, _ = results[0]
    qids, qs, di, dsc = prepare(test)
    test_nd = mean_ndcg(test, qids, pids, di, dsc, lexical(r, qs, 300, k1, b), params)
    base = mean_ndcg(test, qids, pids, di, dsc, lexical(r, qs, 300), PLAIN_RRF)
    print(json.dumps({"chosen": {"k1": k1, "b": b, "fusion": str(params)}, "train_ndcg@10": round(nd, 4),
                      "test_ndcg@10": round(test_nd, 4), "test_plain_rrf": round(base, 4),
                      "seconds": round(time.time() - t0)}))


if __name__ == "__main__":
    main()
