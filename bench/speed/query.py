"""query: in-process latency over the 300 SciFact test questions, one at a time (k=10), on
indexes/beir-scifact: dense, bm25, hybrid (with answer sentences), next to a naive in-process
baseline (sentence-transformers encode + FAISS search; bm25s). Halves interleaved: ours 0-150,
naive 0-150, naive 150-300, ours 150-300; then ours again with one thread (a diagnostic).

The workers import numpy, FAISS and the models inside their functions: the orchestrator imports
this module too and stays light.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from harness import CHILD_ENV, EVAL_INDEX, SCIFACT, emit, log, mb, met, run_worker
from rag.evaluation import beir
from rag.evaluation.metrics import percentile

TITLE = "Query latency"


def questions(start: int, stop: int) -> list[str]:
    ds = beir.load(SCIFACT, "test")
    return [ds.queries[q] for q in sorted(ds.queries)][start:stop]


def rotated(ops: dict, qs: list[str]) -> dict[str, list[float]]:
    """Milliseconds of each operation on each question, after one warm-up each; the operations'
    order rotates from one question to the next."""
    names = list(ops)
    for name in names:  # warm up: the encoder, caches, page cache
        ops[name]("warm up the model and caches")
    times: dict[str, list[float]] = {n: [] for n in names}
    for i, q in enumerate(qs):
        for j in range(len(names)):
            name = names[(i + j) % len(names)]
            t = time.perf_counter()
            ops[name](q)
            times[name].append((time.perf_counter() - t) * 1000)
    return times


def w_query(p: dict) -> None:
    """rag's in-process query latency: one query at a time, the modes rotated per query."""
    import numpy as np  # heavy: in the worker only

    from rag.search.retriever import Retriever

    qs = questions(p["start"], p["stop"])
    t0 = time.perf_counter()
    r = Retriever.open(p["index"])
    open_s = time.perf_counter() - t0
    k = p["k"]
    enc = r.encoder()
    ops = {
        "dense": lambda q: r.search(q, k=k, mode="dense"),
        "bm25": lambda q: r.search(q, k=k, mode="bm25"),
        "hybrid": lambda q: r.search(q, k=k, mode="hybrid"),
        "hybrid_no_answers": lambda q: r.search(q, k=k, mode="hybrid", answers=False),
        "encode": lambda q: enc.encode([q]),
    }
    times = rotated(ops, qs)
    emit({"open_s": open_s, "times_ms": times, "n": len(qs), "dense_kind": r.info.dense_kind,
          "numpy": np.__version__, "encoder": enc.path_name, "fallback_reason": getattr(enc, "fallback_reason", "")})


def w_query_naive(p: dict) -> None:
    """Naive in-process baseline: sentence-transformers encode + FAISS search; bm25s with its tokenizer."""
    import bm25s  # heavy: in the worker only
    import faiss
    import numpy as np
    import Stemmer
    from sentence_transformers import SentenceTransformer

    from rag.embedding.model import default_model_dir
    from rag.index.local import LocalIndex

    qs = questions(p["start"], p["stop"])
    model = SentenceTransformer(str(default_model_dir()), device="cpu")
    with LocalIndex.open(Path(p["index"])) as ours:  # the same vectors, in a plain FAISS flat index
        vecs = np.ascontiguousarray(ours.live_vectors())
    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(vecs)
    stemmer = Stemmer.Stemmer("english")
    bm = bm25s.BM25()
    corpus = [x.text for x in beir.load(SCIFACT, "test").passages]
    bm.index(bm25s.tokenize(corpus, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    k = p["k"]

    def dense(q):
        return index.search(model.encode([q], normalize_embeddings=True), k)

    def lexical(q):
        return bm.retrieve(bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False), k=k,
                           show_progress=False)

    emit({"times_ms": rotated({"dense": dense, "bm25": lexical}, qs), "n": len(qs)})


WORKERS = {"query": w_query, "query_naive": w_query_naive}


def merge(runs: list[dict]) -> dict:
    """p50 / p99 of each operation over the runs' timings."""
    times: dict[str, list[float]] = {}
    for r in runs:
        for name, ts in r["times_ms"].items():
            times.setdefault(name, []).extend(ts)
    return {name: {"p50_ms": percentile(ts, 50), "p99_ms": percentile(ts, 99), "n": len(ts)} for name, ts in times.items()}


def run(args, work: Path) -> dict:
    k = 10  # a page of results; Retriever.search's default is 5 (fewer answer sentences to pick)
    half = 150
    out: dict = {"k": k, "index": str(EVAL_INDEX)}
    ours_runs, naive_runs = [], []
    for side, a, b in [("ours", 0, half), ("naive", 0, half), ("naive", half, 300), ("ours", half, 300)]:
        log(f"query: {side} queries {a}-{b}")
        params = {"index": str(EVAL_INDEX), "start": a, "stop": b, "k": k}
        if side == "ours":
            ours_runs.append(run_worker("query", params))
        else:
            naive_runs.append(run_worker("query_naive", params))
    # Diagnostic: the same with one thread for FAISS and BLAS (env set before numpy loads).
    env1 = {**CHILD_ENV, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    log("query: ours, one thread (diagnostic), all 300 queries")
    one = run_worker("query", {"index": str(EVAL_INDEX), "start": 0, "stop": 300, "k": k}, env=env1)
    out["ours"] = merge(ours_runs)
    out["ours"]["rss_mb"] = max(r["vmhwm_mb"] for r in ours_runs)
    out["ours"]["open_s"] = statistics.median(r["open_s"] for r in ours_runs)
    out["naive"] = merge(naive_runs)
    out["naive"]["rss_mb"] = max(r["vmhwm_mb"] for r in naive_runs)
    out["ours_one_thread"] = merge([one])
    out["ours_one_thread"]["rss_mb"] = one["vmhwm_mb"]
    out["dense_kind"] = ours_runs[0]["dense_kind"]
    out["encoder"] = ours_runs[0]["encoder"]
    out["encoder_one_thread"] = one["encoder"]
    return out


def rows(q: dict) -> list[tuple]:
    o, nv, one = q["ours"], q["naive"], q["ours_one_thread"]
    out = []
    for mode, base_key, target in (("dense", "dense", None), ("bm25", "bm25", None), ("hybrid", "dense", 10.0)):
        b = nv.get(base_key)
        out.append((
            f"Query p50 / p99 in process, {mode} with answer sentences (k={q['k']}, 300 queries)",
            f"{o[mode]['p50_ms']:.1f} / {o[mode]['p99_ms']:.1f} ms",
            (f"{b['p50_ms']:.1f} / {b['p99_ms']:.1f} ms ({'ST encode + FAISS' if base_key == 'dense' else 'bm25s'})"
             if b else "–"),
            f"{b['p50_ms'] / o[mode]['p50_ms']:.2f}x" if b else "",
            "p50 <= 10 ms" if target else "", met(o[mode]["p50_ms"] <= target) if target else "",
            mb(o["rss_mb"], nv["rss_mb"]) if mode == "hybrid" else "",
        ))
    out.append((f"  of which: query encoding ({q.get('encoder', '?')}) p50; hybrid without answers p50",
                f"{o['encode']['p50_ms']:.1f} ms; {o['hybrid_no_answers']['p50_ms']:.1f} ms", "", "", "", "", ""))
    out.append(("  same with OMP_NUM_THREADS=1 (BLAS, FAISS, ONNX Runtime): hybrid p50 / p99",
                f"{one['hybrid']['p50_ms']:.1f} / {one['hybrid']['p99_ms']:.1f} ms", "", "", "", "", ""))
    return out
