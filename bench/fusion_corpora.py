"""Hybrid fusion across collections: choose the method on SciFact train + CAsT, report SciFact test too.

usage: python bench/fusion_corpora.py [--scifact DIR] [--cast DIR] [--json]

Collections (built here, from public data in ../shared/data):
- SciFact train / test: BEIR layout, claims against 5,183 abstracts.
- CAsT 2022: the organisers' manual rewrites of each turn as queries, the turn's gold response
  passage as the one relevant passage; corpus = the CAsT response passages plus every SciFact abstract
  as distractors. Turns repeated across topic branches are counted once.

For each collection: nDCG@10 of dense, bm25, plain RRF (k=60), the previous default (z-score, 0.6
dense, 300 per side), the default in the code, and every fusion setting of the grid. Passages are
searched with their title header and questions are read by ``query_terms``, as the retriever does.
The setting chosen is the one with the best mean nDCG@10 over the TUNING collections (SciFact train
and CAsT) among those at or above plain RRF on each of them; SciFact test is only reported.
Dense and BM25 run exactly as in :class:`rag.search.retriever.Retriever` (rag's index of each
collection: flat inner product over its vectors, BM25 with the index's parameters; bench/corpus_index.py)
and fusion is :func:`rag.search.fusion.fuse`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus_index import CorpusIndex, write
from rag.documents.chunking import text_hash
from rag.documents.headers import indexed_text
from rag.documents.tokens import query_terms, tokenize_many
from rag.evaluation import beir
from rag.evaluation.metrics import ndcg_at
from rag.indexing.build import build_passages
from rag.search.fusion import DEFAULT_FUSION, FusionParams, fuse, ranked
from rag.search.retriever import Retriever
from rag.types import Passage

DEPTH = 1000  # the deepest candidate list of the grid (deeper costs query time on a large HNSW index)
PLAIN_RRF = FusionParams(method="rrf", rrf_k=60.0, dense_weight=1.0, depth=100)
# the default before this table (z-score, 0.6 dense, 300 candidates per side)
PREVIOUS_DEFAULT = FusionParams(method="zscore", alpha=0.6, depth=300)


@dataclass
class Collection:
    name: str
    pids: list[str]
    qvecs: np.ndarray
    queries: list[str]
    qrels: list[dict[str, int]]
    dense: list[tuple[np.ndarray, np.ndarray]]  # per query: (ids, scores), best first, DEPTH deep
    lexical: list[tuple[np.ndarray, np.ndarray]]
    vectors: np.ndarray


def collection(name, pids, texts, vectors, encoder, queries, qrels) -> Collection:
    """The collection's texts and vectors in an index of rag's (exact dense search, BM25 over the
    texts), each question's DEPTH best of each side."""
    qvecs = encoder.encode(queries)
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp), tokenize_many(texts), vectors)
        index = CorpusIndex(Path(tmp))
        dense = index.dense(qvecs, DEPTH)
        lex = [index.lexical(query_terms(q), DEPTH) for q in queries]  # questions read as the retriever reads them
        index.close()
    return Collection(name, pids, qvecs, queries, qrels, dense, lex, vectors)


def ndcg(c: Collection, rankings: list[list[int]]) -> float:
    return float(np.mean([ndcg_at([c.pids[i] for i in r], rel, 10) for r, rel in zip(rankings, c.qrels)]))


def run_mode(c: Collection, mode: str | FusionParams) -> float:
    out = []
    for (di, ds), (li, ls) in zip(c.dense, c.lexical):
        if mode == "dense":
            out.append(di[:10].tolist())
        elif mode == "bm25":
            out.append(li[:10].tolist())
        else:
            d = mode.depth
            out.append([i for i, _ in ranked(fuse(mode, (di[:d], ds[:d]), (li[:d], ls[:d])), 10)])
    return ndcg(c, out)


def grid() -> list[FusionParams]:
    g = [FusionParams("rrf", rrf_k=k, dense_weight=w, depth=100) for k in (20, 60, 100) for w in (1.0, 1.25)]
    g += [FusionParams(m, alpha=a, depth=d) for m in ("weighted", "dbsf") for a in (0.4, 0.5, 0.6) for d in (100, 300)]
    g += [FusionParams("zscore", alpha=a, depth=d) for a in (0.5, 0.55, 0.6, 0.65) for d in (100, 300, 1000)]
    return g


def cast_response_passages(cast: Path) -> list[Passage]:
    """CAsT's response passages, one a corpus line, their ids prefixed ``cast:`` (apart from SciFact's)."""
    out = []
    for n, line in enumerate((cast / "corpus.jsonl").read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            rec = json.loads(line)
            text = beir.record_text(rec)
            out.append(Passage(text, "cast:" + rec["_id"], n, n, 1, 0, len(text), text_hash(text)))
    return out


def load_collections(scifact: Path, cast: Path, index_root: Path) -> dict[str, Collection]:
    train = beir.load(scifact, "train")
    test = beir.load(scifact, "test")
    sf_index = index_root / "beir-scifact"
    build_passages(sf_index, train.passages, {"corpus.jsonl": {"sha256": train.corpus_sha256}})
    r = Retriever.open(sf_index)
    enc = r.encoder()
    sf_vecs = np.asarray(r.vectors, dtype=np.float32)
    sf_pids = [p.source for p in r.passages]
    sf_texts = [indexed_text(p) for p in r.passages]  # title header in front, as the index's BM25 has it
    out = {}
    for split, ds in (("scifact-train", train), ("scifact-test", test)):
        qids = sorted(ds.queries)
        out[split] = collection(split, sf_pids, sf_texts, sf_vecs, enc, [ds.queries[q] for q in qids],
                                [ds.qrels[q] for q in qids])
    # CAsT: response passages (ids prefixed to keep them apart from SciFact's) + SciFact distractors.
    cast_passages = cast_response_passages(cast)
    cast_index = index_root / "cast2022-responses"
    build_passages(cast_index, cast_passages,
                   {"corpus.jsonl": {"sha256": hashlib.sha256((cast / "corpus.jsonl").read_bytes()).hexdigest()}})
    rc = Retriever.open(cast_index, encoder=enc)
    seen, queries, qrels = set(), [], []
    for line in (cast / "conversations.jsonl").read_text(encoding="utf-8").splitlines():
        t = json.loads(line) if line.strip() else None
        if not t or not t.get("gold") or not t.get("rewrite"):
            continue
        key = (t["rewrite"], t["gold"])
        if key in seen:
            continue
        seen.add(key)
        queries.append(t["rewrite"])
        qrels.append({"cast:" + t["gold"]: 1})
    pids = [p.source for p in rc.passages] + sf_pids
    texts = [indexed_text(p) for p in rc.passages] + sf_texts
    vecs = np.vstack([np.asarray(rc.vectors, dtype=np.float32), sf_vecs])
    out["cast2022"] = collection("cast2022", pids, texts, vecs, enc, queries, qrels)
    return out


def describe(p: FusionParams) -> str:
    if p.method == "rrf":
        return f"rrf k={p.rrf_k:g} w_dense={p.dense_weight:g} depth={p.depth}"
    return f"{p.method} alpha={p.alpha:g} depth={p.depth}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scifact", default="../shared/data/scifact")
    ap.add_argument("--cast", default="../shared/data/cast2022")
    ap.add_argument("--indexes", default="indexes")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    t0 = time.time()
    cols = load_collections(Path(args.scifact), Path(args.cast), Path(args.indexes))
    tuning = ("scifact-train", "cast2022")
    base = {n: run_mode(c, PLAIN_RRF) for n, c in cols.items()}
    scored = []
    print("collections loaded", round(time.time() - t0), "s", file=sys.stderr, flush=True)
    for p in grid():
        s = {n: run_mode(cols[n], p) for n in tuning}
        print(describe(p), {n: round(v, 4) for n, v in s.items()}, file=sys.stderr, flush=True)
        floor_ok = all(s[n] >= base[n] for n in tuning)
        scored.append((floor_ok, float(np.mean(list(s.values()))), p, s))
    scored.sort(key=lambda x: (not x[0], -x[1]))
    chosen = scored[0][2]
    table = {}
    for n, c in cols.items():
        table[n] = {"queries": len(c.queries), "passages": len(c.pids), "dense": run_mode(c, "dense"),
                    "bm25": run_mode(c, "bm25"), "rrf_k60": base[n], "previous_default": run_mode(c, PREVIOUS_DEFAULT), "current_default": run_mode(c, DEFAULT_FUSION),
                    "chosen": run_mode(c, chosen)}
    report = {"chosen": describe(chosen), "default_in_code": describe(DEFAULT_FUSION),
              "ndcg@10": {n: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()} for n, row in table.items()},
              "top_on_tuning": [{"fusion": describe(p), "floor_ok": ok, "mean": round(m, 4),
                                 **{n: round(v, 4) for n, v in s.items()}} for ok, m, p, s in scored[:12]],
              "seconds": round(time.time() - t0)}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"chosen on {' + '.join(tuning)}: {report['chosen']}   (code default: {report['default_in_code']})")
    cols_ = ("dense", "bm25", "rrf_k60", "previous_default", "current_default", "chosen")
    print(f"{'nDCG@10':16}" + "".join(f"{c:>17}" for c in cols_))
    for n, row in report["ndcg@10"].items():
        print(f"{n:16}" + "".join(f"{row[c]:>17.4f}" for c in cols_))
    print("best settings on the tuning collections:")
    for row in report["top_on_tuning"]:
        print("  ", row)
    print(f"{report['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
