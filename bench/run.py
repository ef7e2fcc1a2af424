"""The speed benchmark: each figure next to its baseline, in one process tree and one sitting.

    .venv/bin/python bench/run.py [--quick] [--out bench/out]

writes ``OUT/results.json`` and ``OUT/results.md`` (the Markdown table the README shows) and prints
the table. Not part of the test suite. Sections (``--only`` runs a subset, for development):

  index    indexing throughput on SciFact's corpus texts: rag's build path vs the naive baseline
           (sentence-transformers ``encode`` in fp32 with default settings + ``IndexFlatIP.add``),
           each side in its own process, interleaved A B B A; then nDCG@10 (hybrid, dense) of an
           index built with rag's path vs one built from the fp32 vectors.
  query    in-process latency over the 300 SciFact test queries, one at a time (k=10), on
           indexes/beir-scifact: dense, bm25, hybrid (with answer sentences), next to a naive
           in-process baseline (sentence-transformers encode + FAISS search; bm25s).
  cold     wall time of ``rag ask "..." --json`` as a fresh process vs bench/naive_ask.py, interleaved.
  incr     incremental rebuild of a SciFact-sized seeds folder (one .txt per abstract): no change,
           one file added, that file removed; the baseline is the full build.
  scale    synthetic clustered 384-d vectors (100k and 1M): exact IndexFlatIP vs
           rag.index.dense.DenseIndex.build(kind="hnsw") (and IVF-SQ8), build time, memory, query p50,
           recall@10 against exact; exact-search p50 over sizes to place APPROX_THRESHOLD; synthetic
           BM25 text at 100k.
  ui       time from process start to the terminal UI's first frame.
  targets  issue 10's target table, each next to the code before it (``--before``, default 49e74e6,
           extracted with ``git archive``; its rag/ and tui/ first on PYTHONPATH): one 3-paragraph
           file added to / removed from a 1M-passage index (bench/incremental.py; 100k with --quick;
           the base index is built once and kept under OUT, its build time is the full-rebuild
           baseline), one file added to / removed from a 20,000-file real index
           (bench/incremental_real.py), the first `rag chat` on a fresh clone (bench/first_run.py ui:
           fresh RAG_CACHE_DIR, no index), cold `rag ask` on the built seed index (bench/first_run.py
           ask-cold), and SciFact hybrid nDCG@10 from `rag eval --json` when indexes/beir-scifact is
           built (not built here: it takes many minutes).

Every measurement runs in a child process (this file with ``--worker``, or the ``rag`` CLI), so
each one's peak RSS is its own: the child reports its VmHWM, or ``wait4`` gives its ru_maxrss.
The orchestrator itself imports nothing heavy.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
PY = sys.executable
SCIFACT = Path(os.environ.get("RAG_BENCH_SCIFACT", "/work/shared/data/scifact"))
EVAL_INDEX = REPO / "indexes" / "beir-scifact"
SECTIONS = ("targets", "index", "query", "cold", "incr", "scale", "ui")
BEFORE_REF = "49e74e6"  # the code before issue 10's architecture: the "previous code path" of the targets
RESULT_TAG = "@@RESULT "
DIM = 384

CHILD_ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "PYTHONUNBUFFERED": "1",
}


# =================================================================================== small helpers
def percentile(values, q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation, as numpy's default."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def proc_status_mb(key: str) -> float:
    """VmRSS / VmHWM of this process, in MB."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so a later VmHWM is the peak since now."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def run_child(argv: list[str], *, timeout: float | None = None, env: dict | None = None, cwd: Path = REPO) -> dict:
    """Run a process; its wall time, exit code, output and peak RSS (``wait4``'s ru_maxrss).

    ru_maxrss of a child started from this (small) process is at least this process's own peak,
    which stays around 20-30 MB; workers also report their own VmHWM.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err, cwd=str(cwd), env=env or CHILD_ENV)
        timer = threading.Timer(timeout, p.kill) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            wall = time.perf_counter() - t0
            if timer:
                timer.cancel()
        rc = os.waitstatus_to_exitcode(status)
        p.returncode = rc
        out.seek(0)
        err.seek(0)
        return {
            "wall": wall,
            "rc": rc,
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace"),
            "maxrss_mb": ru.ru_maxrss / 1024.0,
        }


def run_worker(name: str, params: dict, *, timeout: float | None = None, env: dict | None = None) -> dict:
    """Run ``name`` in a child process of this file; its result dict (with ``maxrss_mb`` and ``wall``)."""
    r = run_child([PY, str(Path(__file__).resolve()), "--worker", name, "--params", json.dumps(params)],
                  timeout=timeout, env=env)
    for line in reversed(r["stdout"].splitlines()):
        if line.startswith(RESULT_TAG):
            res = json.loads(line[len(RESULT_TAG):])
            res["maxrss_mb"] = round(r["maxrss_mb"], 1)
            res["process_wall_s"] = round(r["wall"], 3)
            return res
    tail = "\n".join(r["stderr"].strip().splitlines()[-15:])
    raise RuntimeError(f"worker {name} failed (exit {r['rc']}):\n{tail}")


def emit(result: dict) -> None:
    result.setdefault("vmhwm_mb", round(proc_status_mb("VmHWM"), 1))
    sys.stdout.write(RESULT_TAG + json.dumps(result) + "\n")
    sys.stdout.flush()


def current_version(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text(encoding="utf-8").strip()


def r3(x, n=3):
    return None if x is None else round(float(x), n)


# =================================================================================== workers
# Each worker runs in its own process and ends with emit(result).


def _scifact_passages(ids: list[str] | None):
    from rag.evaluation import beir

    ds = beir.load(SCIFACT, "test")
    passages = ds.passages
    if ids is not None:
        keep = set(ids)
        passages = [p for p in passages if p.source in keep]
    return ds, passages


class Gate:
    """Lets the orchestrator interleave two workers chunk by chunk: the worker runs only between a
    ``go`` on its stdin and its next ``pause()``; ``active`` is the time it ran."""

    def __init__(self) -> None:
        self.active = 0.0
        self.segments = 0
        self._t = 0.0

    def _wait(self) -> None:
        line = sys.stdin.readline()
        if line.strip() != "go":
            raise SystemExit("gate closed")
        self._t = time.perf_counter()

    def ready(self) -> None:
        print("@@READY", flush=True)
        self._wait()

    def pause(self) -> None:
        self.active += time.perf_counter() - self._t
        self.segments += 1
        print("@@PAUSE", flush=True)
        self._wait()

    def finish(self) -> None:
        self.active += time.perf_counter() - self._t
        self.segments += 1


def w_index_ours(p: dict) -> None:
    """rag's build path (build_passages, default DocumentEncoder) into a fresh index folder; it
    pauses after every chunk of texts the encoder reports (DocumentEncoder.CHUNK)."""
    ds, passages = _scifact_passages(p["ids"])
    # Heavy imports before the clock starts, as on the naive side.
    import faiss  # noqa: F401
    import sentence_transformers  # noqa: F401
    import torch

    from rag.indexing.build import build_passages
    from rag.embedding.document_encoder import cpu_has_bf16

    gate = Gate()
    stages: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "embedding" and done < total:
            gate.pause()
        if stage == "writing" and done == 0:
            stages["encode_done_active_s"] = gate.active + time.perf_counter() - gate._t

    corpus = {"bench-subset": {"n": len(passages), "first": passages[0].source, "last": passages[-1].source}}
    gate.ready()
    # The one-time ONNX export of the query encoder is not indexing throughput (it is in `incr`'s full build).
    stats = build_passages(p["out"], passages, corpus, progress=progress, export_query_encoder=False)
    gate.finish()
    emit({
        "passages": len(passages),
        "seconds": gate.active,
        "segments": gate.segments,
        "per_s": len(passages) / gate.active,
        "embedded": stats.embedded,
        "encoder": stats.encoder,
        "cpu_bf16": cpu_has_bf16(),
        "torch_threads": torch.get_num_threads(),
        **stages,
    })


def w_index_naive(p: dict) -> None:
    """The naive baseline: SentenceTransformer(model).encode(texts) in fp32 with default settings,
    then IndexFlatIP.add; a forward pre-hook pauses it every 8 batches (256 texts)."""
    ds, passages = _scifact_passages(p["ids"])
    texts = [x.text for x in passages]
    import faiss
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from rag.embedding.model import default_model_dir

    model_dir = str(default_model_dir())
    gate = Gate()
    calls = [0]

    def pre_hook(module, args):
        if calls[0] and calls[0] % 8 == 0:
            gate.pause()
        calls[0] += 1

    gate.ready()
    model = SentenceTransformer(model_dir, device="cpu")
    model[0].register_forward_pre_hook(pre_hook)
    vecs = model.encode(texts)
    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(vecs)
    gate.finish()
    if p.get("save"):
        np.save(p["save"], np.asarray(vecs, dtype=np.float32), allow_pickle=False)
    emit({
        "passages": len(passages),
        "seconds": gate.active,
        "segments": gate.segments,
        "per_s": len(passages) / gate.active,
        "batches": calls[0],
        "dtype": str(vecs.dtype),
        "norm_min": float(np.linalg.norm(vecs, axis=1).min()),
        "torch_threads": torch.get_num_threads(),
    })


class _Precomputed:
    """An Encoder that returns given vectors for given texts (to index the fp32 vectors)."""

    path_name = "precomputed-fp32"

    def __init__(self, texts, vectors) -> None:
        from rag.embedding.model import default_model_dir, model_info, word_pieces

        self.info = model_info(default_model_dir())
        self._pieces = word_pieces(self.info.path)
        self._rows = {t: i for i, t in enumerate(texts)}
        self._vectors = vectors

    def token_ends(self, text: str) -> list[int]:
        return self._pieces.token_ends(text)

    def encode(self, texts, progress=None, cancel=None):
        return self._vectors[[self._rows[t] for t in texts]]


def w_index_eval(p: dict) -> None:
    """nDCG@10 (hybrid, dense) of the index built by rag's path vs one built from the fp32 vectors."""
    import numpy as np

    from rag.index.local import LocalIndex
    from rag.index.passages_io import passage_key
    from rag.indexing.build import build_passages
    from rag.evaluation.metrics import ndcg_at
    from rag.search.retriever import Retriever

    ds, passages = _scifact_passages(p["ids"])
    fp32 = np.load(p["fp32_vectors"])
    corpus = {"bench-subset": {"n": len(passages), "first": passages[0].source, "last": passages[-1].source}}
    build_passages(p["fp32_index"], passages, corpus, encoder=_Precomputed([x.text for x in passages], fp32))
    with LocalIndex.open(p["ours_index"]) as ours:  # aligned with fp32 by stable passage key
        ours_vectors = np.stack(ours.vectors_of([passage_key(x) for x in passages]))
    cos = np.sum(ours_vectors * fp32, axis=1) / (
        np.linalg.norm(ours_vectors, axis=1) * np.linalg.norm(fp32, axis=1)
    )
    qids = sorted(ds.queries)
    out: dict = {"queries": len(qids), "passages": len(passages),
                 "cosine_min": float(cos.min()), "cosine_median": float(np.median(cos)),
                 "cosine_p1": float(np.percentile(cos, 1))}
    for label, folder in (("ours", p["ours_index"]), ("fp32", p["fp32_index"])):
        r = Retriever.open(folder)
        out[label] = {"encoder": r.manifest.get("encoder")}
        for mode in ("hybrid", "dense"):
            nd = []
            for q in qids:
                hits = r.search(ds.queries[q], k=10, mode=mode, answers=False)
                nd.append(ndcg_at([h.source for h in hits], ds.qrels[q], 10))
            out[label][mode] = sum(nd) / len(nd)
    emit(out)


def w_query(p: dict) -> None:
    """rag's in-process query latency: one query at a time, the modes rotated per query."""
    import numpy as np

    from rag.evaluation import beir
    from rag.search.retriever import Retriever

    ds = beir.load(SCIFACT, "test")
    qs = [ds.queries[q] for q in sorted(ds.queries)][p["start"]: p["stop"]]
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
    if p.get("faiss_threads"):
        import faiss

        faiss.omp_set_num_threads(int(p["faiss_threads"]))
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
    emit({"open_s": open_s, "times_ms": times, "n": len(qs), "dense_kind": r.info.dense_kind,
          "numpy": np.__version__, "encoder": enc.path_name, "fallback_reason": getattr(enc, "fallback_reason", "")})


def w_query_naive(p: dict) -> None:
    """Naive in-process baseline: sentence-transformers encode + FAISS search; bm25s with its tokenizer."""
    import bm25s
    import numpy as np
    import faiss
    import Stemmer
    from sentence_transformers import SentenceTransformer

    from rag.evaluation import beir
    from rag.embedding.model import default_model_dir

    ds = beir.load(SCIFACT, "test")
    qs = [ds.queries[q] for q in sorted(ds.queries)][p["start"]: p["stop"]]
    from rag.index.local import LocalIndex

    model = SentenceTransformer(str(default_model_dir()), device="cpu")
    with LocalIndex.open(Path(p["index"])) as ours:  # the same vectors, in a plain FAISS flat index
        vecs = np.ascontiguousarray(ours.live_vectors())
    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(vecs)
    stemmer = Stemmer.Stemmer("english")
    bm = bm25s.BM25()
    bm.index(bm25s.tokenize([x.text for x in ds.passages], stopwords="en", stemmer=stemmer, show_progress=False),
             show_progress=False)
    k = p["k"]

    def dense(q):
        v = model.encode([q], normalize_embeddings=True)
        return index.search(v, k)

    def lexical(q):
        return bm.retrieve(bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False), k=k,
                           show_progress=False)

    ops = {"dense": dense, "bm25": lexical}
    names = list(ops)
    for name in names:
        ops[name]("warm up the model and caches")
    times: dict[str, list[float]] = {n: [] for n in names}
    for i, q in enumerate(qs):
        for j in range(len(names)):
            name = names[(i + j) % len(names)]
            t = time.perf_counter()
            ops[name](q)
            times[name].append((time.perf_counter() - t) * 1000)
    emit({"times_ms": times, "n": len(qs)})


# ---------------------------------------------------------------- scale: synthetic vectors
def _spectrum_factor(rng):
    """A 384x384 factor L with z @ L ~ N(0, C), C the covariance of SciFact's MiniLM vectors, and
    their mean; isotropic (C = I/384, mean 0) when that index is not there."""
    import numpy as np

    try:
        from rag.index.local import LocalIndex

        with LocalIndex.open(EVAL_INDEX) as ours:
            v = ours.live_vectors().astype(np.float64)
        m = v.mean(0)
        c = v - m
        ev, u = np.linalg.eigh(c.T @ c / len(c))
        ev = np.clip(ev, 0, None)
        return (u * np.sqrt(ev)).T.astype(np.float32), m.astype(np.float32), "scifact-covariance"
    except (OSError, ValueError):
        return (np.eye(DIM, dtype=np.float32) / math.sqrt(DIM)), np.zeros(DIM, np.float32), "isotropic"


def w_scale_data(p: dict) -> None:
    """Clustered unit vectors: ``n_centers`` topic centers c = mean + 0.8 * z L, points and queries
    x = c + 0.6 * z' L (z, z' standard normal, L from SciFact's covariance), then normalized; and the
    exact top-10 of every query at each size in ``gt_sizes`` (over the first n points)."""
    import faiss
    import numpy as np

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(p["seed"])
    L, mean, how = _spectrum_factor(rng)
    centers = (mean + p["alpha"] * (rng.standard_normal((p["n_centers"], DIM), dtype=np.float32) @ L))
    folder = Path(p["dir"])

    def draw(n):
        lab = rng.integers(0, len(centers), n)
        x = centers[lab] + p["beta"] * (rng.standard_normal((n, DIM), dtype=np.float32) @ L)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x

    t0 = time.perf_counter()
    base = np.lib.format.open_memmap(folder / "base.npy", mode="w+", dtype=np.float32, shape=(p["n_max"], DIM))
    step = 100_000
    for s in range(0, p["n_max"], step):
        base[s: s + step] = draw(min(step, p["n_max"] - s))
    base.flush()
    queries = draw(p["n_queries"])
    np.save(folder / "queries.npy", queries)
    gen_s = time.perf_counter() - t0
    stats = {}
    for n in p["gt_sizes"]:
        t = time.perf_counter()
        flat = faiss.IndexFlatIP(DIM)
        flat.add(np.ascontiguousarray(base[:n]))
        d, i = flat.search(queries, 10)
        np.save(folder / f"gt_{n}.npy", i.astype(np.int64))
        sample = np.ascontiguousarray(base[:500])
        dd, _ = flat.search(sample, 2)
        stats[str(n)] = {
            "query_top1_cos_p5_p50_p95": [r3(x) for x in np.percentile(d[:, 0], [5, 50, 95])],
            "query_top10_cos_median": r3(np.median(d[:, 9])),
            "doc_nn_cos_p5_p50_p95": [r3(x) for x in np.percentile(dd[:, 1], [5, 50, 95])],
            "gt_seconds": round(time.perf_counter() - t, 2),
        }
        del flat
    # The real thing, for comparison: nearest-neighbour cosines within SciFact's 5,183 vectors.
    real = None
    try:
        v = np.load(current_version(EVAL_INDEX) / "vectors.npy")
        s = v @ v.T
        np.fill_diagonal(s, -1)
        real = [r3(x) for x in np.percentile(s.max(1), [5, 50, 95])]
        syn = base[:len(v)]
        s2 = syn @ syn.T
        np.fill_diagonal(s2, -1)
        syn_same_n = [r3(x) for x in np.percentile(s2.max(1), [5, 50, 95])]
    except (OSError, ValueError):
        syn_same_n = None
    emit({"generate_s": gen_s, "spectrum": how, "nn_stats": stats, "scifact_doc_nn_cos_p5_p50_p95": real,
          "synthetic_doc_nn_cos_at_scifact_size": syn_same_n})


def _timed_queries(index, queries, nq: int, k: int = 10) -> list[float]:
    out = []
    for i in range(min(5, len(queries))):  # warm-up
        index.search(queries[i: i + 1], k)
    for i in range(nq):
        q = queries[i % len(queries): i % len(queries) + 1]
        t = time.perf_counter()
        index.search(q, k)
        out.append((time.perf_counter() - t) * 1000)
    return out


def _recall(ids, gt) -> float:
    import numpy as np

    hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(ids, gt))
    return hits / float(np.asarray(gt).size)


def w_scale_flat(p: dict) -> None:
    import faiss
    import numpy as np

    folder = Path(p["dir"])
    n = p["n"]
    x = np.ascontiguousarray(np.load(folder / "base.npy", mmap_mode="r")[:n])
    queries = np.load(folder / "queries.npy")
    rss0 = proc_status_mb("VmRSS")
    reset_peak_rss()
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    t = time.perf_counter()
    index = faiss.IndexFlatIP(DIM)
    index.add(x)
    build_s = time.perf_counter() - t
    peak_delta = proc_status_mb("VmHWM") - rss0
    del x
    res = {"n": n, "build_s": build_s, "index_mb": n * DIM * 4 / 2**20, "build_rss_delta_mb": peak_delta, "p50_ms": {},
           "p99_ms": {}}
    for th in p["threads"]:
        faiss.omp_set_num_threads(th)
        ts = _timed_queries(index, queries, p["nq"])
        res["p50_ms"][str(th)] = percentile(ts, 50)
        res["p99_ms"][str(th)] = percentile(ts, 99)
    gt_path = folder / f"gt_{n}.npy"
    if gt_path.exists():
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        _, ids = index.search(queries, 10)
        res["recall@10"] = _recall(ids, np.load(gt_path))
    emit(res)


def w_scale_ann(p: dict) -> None:
    """An approximate index over the first n points: build, memory, recall@10 and p50 per setting."""
    import faiss
    import numpy as np

    folder = Path(p["dir"])
    n = p["n"]
    x = np.ascontiguousarray(np.load(folder / "base.npy", mmap_mode="r")[:n])
    queries = np.load(folder / "queries.npy")
    gt = np.load(folder / f"gt_{n}.npy")
    build_threads = os.cpu_count() or 1
    faiss.omp_set_num_threads(build_threads)
    rss0 = proc_status_mb("VmRSS")
    reset_peak_rss()
    t = time.perf_counter()
    res: dict = {"n": n, "kind": p["kind"], "build_threads": build_threads}
    if p["kind"] == "hnsw":
        import rag.index.dense as rd

        M, efc = p.get("M") or rd.HNSW_M, p.get("efC") or rd.HNSW_EF_CONSTRUCTION
        if (M, efc) == (rd.HNSW_M, rd.HNSW_EF_CONSTRUCTION):
            index = rd.DenseIndex.build(x, kind="hnsw")._index  # exactly what rag builds
            res["via"] = "rag.index.dense.DenseIndex.build(kind='hnsw')"
        else:
            index = faiss.IndexHNSWFlat(DIM, M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = efc
            index.add(x)
            res["via"] = "faiss.IndexHNSWFlat"
        res.update(M=M, efConstruction=efc, default_efSearch=rd.HNSW_EF_SEARCH)

        def set_knob(v):
            index.hnsw.efSearch = v

        knob, default = "efSearch", rd.HNSW_EF_SEARCH
    else:
        nlist = p["nlist"]
        index = faiss.index_factory(DIM, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
        ntrain = min(n, p.get("train", 64 * nlist))
        sample = x[np.random.default_rng(1).choice(n, ntrain, replace=False)]
        index.train(sample)
        index.add(x)
        res.update(nlist=nlist, trained_on=ntrain)

        def set_knob(v):
            faiss.extract_index_ivf(index).nprobe = v

        knob, default = "nprobe", None
    res["build_s"] = time.perf_counter() - t
    res["build_rss_peak_delta_mb"] = proc_status_mb("VmHWM") - rss0
    del x
    res["rss_after_build_minus_before_mb"] = proc_status_mb("VmRSS") - rss0 + n * DIM * 4 / 2**20  # x freed
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        faiss.write_index(index, str(Path(tmp) / "i.faiss"))
        res["index_mb"] = (Path(tmp) / "i.faiss").stat().st_size / 2**20
    res["knob"] = knob
    res["settings"] = []
    for v in p["sweep"]:
        set_knob(v)
        faiss.omp_set_num_threads(build_threads)
        _, ids = index.search(queries, 10)
        row = {knob: v, "recall@10": _recall(ids, gt), "p50_ms": {}, "p99_ms": {}}
        for th in p["threads"] if (v == default or default is None and v == p["sweep"][0]) else p["threads"][:1]:
            faiss.omp_set_num_threads(th)
            ts = _timed_queries(index, queries, p["nq"])
            row["p50_ms"][str(th)] = percentile(ts, 50)
            row["p99_ms"][str(th)] = percentile(ts, 99)
        res["settings"].append(row)
    emit(res)


def w_bm25_synth(p: dict) -> None:
    """Random-word documents (Zipf vocabulary) through rag.index.lexical: tokenize, build, query p50."""
    import numpy as np

    from rag.index.lexical import BM25Index, top_positive
    from rag.documents.tokens import tokenize, tokenize_many

    rng = np.random.default_rng(p["seed"])
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = ["".join(rng.choice(letters, rng.integers(4, 11))) for _ in range(p["vocab"])]
    probs = 1.0 / np.arange(1, p["vocab"] + 1) ** 1.07
    probs /= probs.sum()
    lengths = rng.poisson(p["words"], p["n"]) + 5
    words = rng.choice(p["vocab"], size=int(lengths.sum()), p=probs)
    docs, pos = [], 0
    for ln in lengths:
        docs.append(" ".join(vocab[w] for w in words[pos: pos + ln]))
        pos += ln
    qwords = rng.choice(p["vocab"], size=(p["nq"], 6), p=probs)
    queries = [" ".join(vocab[w] for w in row) for row in qwords]
    rss0 = proc_status_mb("VmRSS")
    reset_peak_rss()
    t = time.perf_counter()
    toks = tokenize_many(docs)
    tok_s = time.perf_counter() - t
    bm = BM25Index.build(toks)
    build_s = time.perf_counter() - t
    peak = proc_status_mb("VmHWM") - rss0
    with tempfile.TemporaryDirectory() as tmp:
        bm.save(Path(tmp))
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 2**20
    ts = []
    for q in queries[:5]:
        top_positive(bm.scores(tokenize(q)), 100)
    for q in queries:
        t = time.perf_counter()
        top_positive(bm.scores(tokenize(q)), 100)
        ts.append((time.perf_counter() - t) * 1000)
    emit({"n": p["n"], "tokens": int(lengths.sum()), "tokenize_s": tok_s, "build_s": build_s,
          "build_rss_peak_delta_mb": peak, "index_mb": size,
          "p50_ms": percentile(ts, 50), "p99_ms": percentile(ts, 99)})


WORKERS = {
    "index_ours": w_index_ours,
    "index_naive": w_index_naive,
    "index_eval": w_index_eval,
    "query": w_query,
    "query_naive": w_query_naive,
    "scale_data": w_scale_data,
    "scale_flat": w_scale_flat,
    "scale_ann": w_scale_ann,
    "bm25_synth": w_bm25_synth,
}


# =================================================================================== sections
def _read_corpus() -> list[dict]:
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _quick_ids(n: int) -> list[str]:
    """n corpus ids: every document relevant to a test query, then random others (seed 0)."""
    rel = set()
    with open(SCIFACT / "qrels-test.tsv", encoding="utf-8") as f:
        for i, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and not (i == 0 and parts[0] == "query-id"):
                rel.add(parts[1])
    ids = [str(r["_id"]) for r in _read_corpus()]
    rest = [i for i in ids if i not in rel]
    random.Random(0).shuffle(rest)
    keep = set(list(rel)[:n]) | set(rest[: max(0, n - len(rel))])
    return [i for i in ids if i in keep]


def run_gated(a: tuple[str, dict], b: tuple[str, dict]) -> tuple[dict, dict, list[str]]:
    """Run two gated workers side by side, one computing at a time, in the order a b b a a b b a ...
    (each turn lasts until the worker's next pause); their results and the order of turns."""
    procs = {}
    errs = {}
    for name, params in (a, b):
        errs[name] = tempfile.TemporaryFile()
        procs[name] = subprocess.Popen(
            [PY, str(Path(__file__).resolve()), "--worker", name, "--params", json.dumps(params)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errs[name], cwd=str(REPO), env=CHILD_ENV,
            text=True, bufsize=1,
        )
    results: dict[str, dict] = {}

    def fail(name: str, why: str):
        for p in procs.values():
            if p.poll() is None:
                p.kill()
        errs[name].seek(0)
        tail = "\n".join(errs[name].read().decode("utf-8", "replace").strip().splitlines()[-15:])
        raise RuntimeError(f"worker {name} {why}:\n{tail}")

    def until(name: str, tags: tuple[str, ...]) -> str:
        p = procs[name]
        while True:
            line = p.stdout.readline()
            if not line:
                fail(name, f"ended early (exit {p.wait()})")
            for tag in tags:
                if line.startswith(tag):
                    return line

    for name in procs:
        until(name, ("@@READY",))
    names = [a[0], b[0]]
    turns: list[str] = []
    step = 0
    while len(results) < 2:
        pair, first = divmod(step, 2)
        name = names[first] if pair % 2 == 0 else names[1 - first]
        step += 1
        if name in results:
            continue
        procs[name].stdin.write("go\n")
        procs[name].stdin.flush()
        turns.append(name)
        line = until(name, ("@@PAUSE", RESULT_TAG))
        if line.startswith(RESULT_TAG):
            results[name] = json.loads(line[len(RESULT_TAG):])
    for name, p in procs.items():
        p.stdin.close()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        results[name]["maxrss_mb"] = round(ru.ru_maxrss / 1024.0, 1)
        errs[name].close()
    return results[a[0]], results[b[0]], turns


def section_index(args, work: Path) -> dict:
    ids = _quick_ids(500) if args.quick else None
    fp32 = work / "fp32_vectors.npy"
    log(f"index: rag's build path and the naive baseline on {'500' if ids else 'all'} documents, interleaved "
        "chunk by chunk (256 texts)")
    load0 = loadavg()
    ours, naive, turns = run_gated(("index_ours", {"ids": ids, "out": str(work / "ours-index")}),
                                   ("index_naive", {"ids": ids, "save": str(fp32)}))
    log(f"index: ours {ours['per_s']:.1f} passages/s ({ours['seconds']:.1f} s, {ours['encoder']}), "
        f"naive {naive['per_s']:.1f} passages/s ({naive['seconds']:.1f} s)")
    log("index: nDCG@10 of the two indexes")
    ev = run_worker("index_eval", {"ids": ids, "fp32_vectors": str(fp32), "ours_index": str(work / "ours-index"),
                                   "fp32_index": str(work / "fp32-index")})
    n = ours["passages"]
    return {
        "documents": n,
        "subset": bool(ids),
        "turns": len(turns),
        "load_during": [load0, loadavg()],
        "ours": {"seconds": ours["seconds"], "per_s": ours["per_s"], "encoder": ours["encoder"],
                 "cpu_bf16": ours["cpu_bf16"], "rss_mb": ours["vmhwm_mb"], "run": ours},
        "naive": {"seconds": naive["seconds"], "per_s": naive["per_s"], "rss_mb": naive["vmhwm_mb"], "run": naive},
        "ratio": naive["seconds"] / ours["seconds"],
        "eval": ev,
    }


def section_query(args, work: Path) -> dict:
    k = 10  # a page of results; Retriever.search's default is 5 (fewer answer sentences to pick)
    half = 150
    out: dict = {"k": k, "index": str(EVAL_INDEX)}
    ours_runs, naive_runs = [], []
    plan = [("ours", 0, half), ("naive", 0, half), ("naive", half, 300), ("ours", half, 300)]
    for side, a, b in plan:
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

    def merge(runs):
        times: dict[str, list[float]] = {}
        for r in runs:
            for name, ts in r["times_ms"].items():
                times.setdefault(name, []).extend(ts)
        return {name: {"p50_ms": percentile(ts, 50), "p99_ms": percentile(ts, 99), "n": len(ts)}
                for name, ts in times.items()}

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


def _rag_cli() -> list[str]:
    exe = Path(PY).parent / "rag"
    return [str(exe)] if exe.exists() else [PY, "-m", "rag"]


def section_cold(args, work: Path) -> dict:
    runs = args.cold_runs
    version = current_version(EVAL_INDEX)
    r = run_child([PY, "-c", "from rag.embedding.model import default_model_dir; print(default_model_dir())"], timeout=120)
    model_dir = r["stdout"].strip().splitlines()[-1]
    qs = []
    with open(SCIFACT / "queries-test.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                qs.append(json.loads(line)["text"])
    ours_cmd = lambda q: _rag_cli() + ["ask", q, "--json", "--index", str(EVAL_INDEX)]  # noqa: E731
    naive_cmd = lambda q: [PY, str(BENCH / "naive_ask.py"), "--index-dir", str(version), "--model", model_dir, q]  # noqa: E731
    res = {"ours": [], "naive": [], "questions": qs[:runs]}
    log("cold: one warm-up run of each (page cache), not counted")
    for cmd in (ours_cmd, naive_cmd):
        r = run_child(cmd(qs[0]), timeout=300)
        if r["rc"] != 0:
            raise RuntimeError(f"{cmd(qs[0])[:3]} failed: {r['stderr'][-800:]}")
    for i in range(runs):
        q = qs[i % len(qs)]
        pair = [("ours", ours_cmd), ("naive", naive_cmd)]
        if i % 2:
            pair.reverse()
        for side, cmd in pair:
            r = run_child(cmd(q), timeout=300)
            try:
                ok = r["rc"] == 0 and len(json.loads(r["stdout"].strip().splitlines()[-1])["hits"]) > 0
            except (ValueError, IndexError, KeyError):
                ok = False
            res[side].append({"wall": r["wall"], "maxrss_mb": r["maxrss_mb"], "ok": ok})
            if not ok:
                res[side][-1]["error"] = f"exit {r['rc']}: " + " ".join(r["stderr"].strip().splitlines()[-2:])[:400]
                log(f"cold: {side} run failed: {res[side][-1]['error']}")
        log(f"cold: run {i + 1}/{runs}: ours {res['ours'][-1]['wall']:.2f} s, naive {res['naive'][-1]['wall']:.2f} s")
    # Does the query path import torch & co.? (-X importtime lists every module imported.)
    r = run_child([PY, "-X", "importtime", "-m", "rag", "ask", qs[0], "--json", "--index", str(EVAL_INDEX)], timeout=120)
    mods = {line.split("|")[-1].strip() for line in r["stderr"].splitlines() if line.startswith("import time:")}
    heavy = sorted(m for m in mods if m.split(".")[0] in ("torch", "transformers", "sentence_transformers"))
    for side in ("ours", "naive"):
        walls = [x["wall"] for x in res[side]]
        res[side + "_summary"] = {"median_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls),
                                  "rss_mb": max(x["maxrss_mb"] for x in res[side]),
                                  "all_ok": all(x["ok"] for x in res[side])}
    res["ratio"] = res["naive_summary"]["median_s"] / res["ours_summary"]["median_s"]
    res["heavy_modules_imported"] = heavy[:10]
    return res


def _write_seeds(folder: Path, records: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, rec in enumerate(records):
        title = (rec.get("title") or "").strip()
        text = (rec.get("text") or "").strip()
        (folder / f"{i:05d}_{rec['_id']}.txt").write_text(f"{title}\n{text}\n" if title else text + "\n",
                                                         encoding="utf-8")


def _manifest(index: Path) -> dict:
    return json.loads((current_version(index) / "manifest.json").read_text(encoding="utf-8"))


def section_incr(args, work: Path) -> dict:
    records = _read_corpus()
    if args.quick:
        records = records[:500]
    seeds, index = work / "seeds", work / "seeds-index"
    _write_seeds(seeds, records)
    cli = _rag_cli()
    base = cli + ["index", "--seeds", str(seeds), "--index", str(index), "--json"]

    def index_run(what: str) -> dict:
        r = run_child(base, timeout=3600)
        if r["rc"] != 0:
            raise RuntimeError(f"rag index ({what}) failed: {r['stderr'][-800:]}")
        d = json.loads(r["stdout"].strip().splitlines()[-1])
        d.update(wall=r["wall"], maxrss_mb=r["maxrss_mb"])
        return d

    log(f"incr: full build of {len(records)} seed files (nothing to reuse)")
    full = index_run("full build")
    log(f"incr: full build {full['wall']:.1f} s, {full['passages']} passages, encoder {full['encoder']}")
    nochange = []
    for i in range(5):
        d = index_run("no change")
        nochange.append(d)
    log(f"incr: no change: {[round(d['wall'], 3) for d in nochange]}")
    adds, removes = [], []
    for rep in range(args.incr_reps):
        name = f"zz_added_{rep}.txt"
        marker = f"{os.getpid()}-{time.time_ns()}"
        paras = []
        for j, rec in enumerate(records[rep * 3: rep * 3 + 3]):
            # Short paragraphs, each with a unique marker: every passage of the file is new text.
            body = (rec.get("text") or "").strip()[:500].rsplit(" ", 1)[0]
            paras.append(f"Added paragraph {j} ({marker}). {body}.")
        (seeds / name).write_text("\n\n".join(paras) + "\n", encoding="utf-8")
        d = index_run("one file added")
        file_passages = _manifest(index)["files"][name]["passages"]
        d["file_passages"] = file_passages
        adds.append(d)
        (seeds / name).unlink()
        removes.append(index_run("one file removed"))
        log(f"incr: add {d['wall']:.2f} s (embedded {d['embedded']} of the file's {file_passages} passages), "
            f"remove {removes[-1]['wall']:.2f} s")
    med = lambda xs: statistics.median(x["wall"] for x in xs)  # noqa: E731
    return {
        "files": len(records),
        "passages": full["passages"],
        "full": {"wall_s": full["wall"], "embedded": full["embedded"], "encoder": full["encoder"],
                 "rss_mb": full["maxrss_mb"], "exported_query_encoder": full.get("exported_query_encoder")},
        "nochange": {"median_s": med(nochange), "walls": [x["wall"] for x in nochange],
                     "all_unchanged": all(not x["changed"] for x in nochange),
                     "rss_mb": max(x["maxrss_mb"] for x in nochange)},
        "add": {"median_s": med(adds), "walls": [x["wall"] for x in adds],
                "embedded": [x["embedded"] for x in adds], "file_passages": [x["file_passages"] for x in adds],
                "only_that_file": all(x["embedded"] == x["file_passages"] for x in adds),
                "rss_mb": max(x["maxrss_mb"] for x in adds)},
        "remove": {"median_s": med(removes), "walls": [x["wall"] for x in removes],
                   "embedded": [x["embedded"] for x in removes], "rss_mb": max(x["maxrss_mb"] for x in removes)},
    }


def section_scale(args, work: Path) -> dict:
    quick = args.quick
    n_max = 100_000 if quick else 1_000_000
    flat_sizes = [50_000, 100_000] if quick else [50_000, 100_000, 200_000, 500_000, 1_000_000]
    ann_sizes = [100_000] if quick else [100_000, 1_000_000]
    data = work / "scale"
    data.mkdir(parents=True, exist_ok=True)
    out: dict = {"n_max": n_max}
    log(f"scale: generating {n_max} clustered vectors and exact top-10 at {ann_sizes}")
    out["data"] = run_worker("scale_data", {"dir": str(data), "n_max": n_max, "n_queries": args.scale_queries,
                                            "n_centers": 2000, "alpha": 0.8, "beta": 0.6, "seed": 0,
                                            "gt_sizes": ann_sizes})
    out["data"]["params"] = {"n_centers": 2000, "alpha": 0.8, "beta": 0.6, "queries": args.scale_queries}
    out["flat"] = []
    for n in flat_sizes:
        nq = 200 if n <= 200_000 else 100
        log(f"scale: flat {n}")
        r = run_worker("scale_flat", {"dir": str(data), "n": n, "nq": nq, "threads": [1, os.cpu_count() or 1]})
        out["flat"].append(r)
        log(f"scale: flat {n}: p50 {r['p50_ms']} ms")
    out["ann"] = []
    hnsw_extra = [tuple(int(v) for v in s.split(",")) for s in args.hnsw] if args.hnsw else []
    for n in ann_sizes:
        for M, efc in [(None, None)] + hnsw_extra:
            log(f"scale: hnsw {n} M={M or 'default'} efC={efc or 'default'} (building...)")
            r = run_worker("scale_ann", {"dir": str(data), "n": n, "kind": "hnsw", "M": M, "efC": efc,
                                         "sweep": [32, 64, 128, 256], "nq": 300, "threads": [1, os.cpu_count() or 1]})
            out["ann"].append(r)
            log(f"scale: hnsw {n}: build {r['build_s']:.1f} s; "
                + ", ".join(f"ef {s['efSearch']}: R {s['recall@10']:.3f} p50 {s['p50_ms']['1']:.2f} ms" for s in r["settings"]))
        log(f"scale: IVF1024,SQ8 {n}")
        r = run_worker("scale_ann", {"dir": str(data), "n": n, "kind": "ivfsq", "nlist": 1024, "train": 65536,
                                     "sweep": [8, 16, 32, 64], "nq": 300, "threads": [1]})
        out["ann"].append(r)
        log(f"scale: ivf {n}: build {r['build_s']:.1f} s; "
            + ", ".join(f"nprobe {s['nprobe']}: R {s['recall@10']:.3f} p50 {s['p50_ms']['1']:.2f} ms" for s in r["settings"]))
    n_bm = 20_000 if quick else 100_000
    log(f"scale: synthetic BM25 text at {n_bm} documents")
    out["bm25"] = run_worker("bm25_synth", {"n": n_bm, "words": 120, "vocab": 50_000, "nq": 300, "seed": 0})
    shutil.rmtree(data, ignore_errors=True)
    return out


def _pty_first_frame(index: Path, seeds: Path, marker: bytes, timeout: float = 30.0) -> float | None:
    """Seconds from fork to ``marker`` appearing in what ``python -m tui`` writes to a 100x32 pty."""
    import fcntl
    import re
    import select
    import struct
    import termios

    t0 = time.perf_counter()
    pid, fd = os.forkpty()
    if pid == 0:  # child
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 32, 100, 0, 0))
            os.chdir(REPO)
            env = {**CHILD_ENV, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "32"}
            os.execve(PY, [PY, "-m", "tui", "--index", str(index), "--seeds", str(seeds)], env)
        finally:
            os._exit(127)
    buf = b""
    found = None
    ansi = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
    try:
        while time.perf_counter() - t0 < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
                if marker in ansi.sub(b"", buf):
                    found = time.perf_counter() - t0
                    break
    finally:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for _ in range(100):
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
            time.sleep(0.02)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    return found


def section_ui(args, work: Path) -> dict:
    try:
        r = run_child([PY, "-c", "import tui.app"], timeout=60)
    except OSError as exc:
        return {"skipped": f"cannot start python: {exc}"}
    if r["rc"] != 0:
        return {"skipped": "tui is not importable yet: " + r["stderr"].strip().splitlines()[-1][:200]}
    seeds = REPO / "seeds"
    runs = args.ui_runs
    headless, pty_times = [], []
    r = run_child([PY, str(BENCH / "ui_first_frame.py"), str(EVAL_INDEX), str(seeds)], timeout=60)  # warm-up
    for i in range(runs):
        t_spawn = time.time()
        r = run_child([PY, str(BENCH / "ui_first_frame.py"), str(EVAL_INDEX), str(seeds)], timeout=60)
        if r["rc"] != 0 or not r["stdout"].strip():
            raise RuntimeError(f"ui_first_frame failed: {r['stderr'][-800:]}")
        d = json.loads(r["stdout"].strip().splitlines()[-1])
        headless.append({"first_frame_s": d["ready"] - t_spawn, "to_main_s": d["main"] - t_spawn,
                         "rss_mb": r["maxrss_mb"]})
        pty_times.append(_pty_first_frame(EVAL_INDEX, seeds, b"ask your documents"))
        log(f"ui: run {i + 1}/{runs}: headless {headless[-1]['first_frame_s']:.3f} s, pty {pty_times[-1]}")
    hs = [x["first_frame_s"] for x in headless]
    ps = [x for x in pty_times if x is not None]
    return {
        "headless": {"median_s": statistics.median(hs), "runs": headless,
                     "rss_mb": max(x["rss_mb"] for x in headless)},
        "pty": {"median_s": statistics.median(ps) if ps else None, "runs": pty_times,
                "marker": "ask your documents"},
    }


# =================================================================================== targets
def _json_tail(r: dict, what: str) -> dict:
    if r["rc"] != 0:
        raise RuntimeError(f"{what} failed (exit {r['rc']}): " + " ".join(r["stderr"].strip().splitlines()[-3:])[:600])
    return json.loads(r["stdout"].strip().splitlines()[-1])


def _code_env(root: Path | None) -> dict:
    """CHILD_ENV with ``root`` (a checkout's rag/ and tui/) first on PYTHONPATH, bytecode caching on
    (as an installed package has it) and no RAG_* settings of the caller."""
    env = {k: v for k, v in CHILD_ENV.items() if not k.startswith("RAG_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(root or REPO)
    return env


def section_targets(args, work: Path) -> dict:
    sys.path.insert(0, str(BENCH))
    from ask_scale import extract

    out_dir = Path(args.out)
    before_root = None
    if args.before:
        before_root = extract(args.before, work / "before-code", paths=("rag", "tui"))
    codes = [("now", None)] + ([("before", before_root)] if before_root else [])
    res: dict = {"before_ref": args.before, "load": []}
    n = 100_000 if args.quick else 1_000_000
    log(f"targets: add/remove one file on {n:,} passages (base index built once, kept in {out_dir})")
    r = run_child([PY, str(BENCH / "incremental.py"), "--n", str(n), "--out", str(out_dir), "--json"],
                  timeout=6 * 3600, env=_code_env(None))
    res["scale"] = _json_tail(r, "bench/incremental.py")
    res["load"].append(loadavg())
    runs = 3 if args.quick else 5
    log("targets: add/remove one file on a 20,000-file index, now vs before")
    argv = [PY, str(BENCH / "incremental_real.py"), "--runs", str(runs), "--work", str(out_dir / "incremental_real"), "--json"]
    if args.before:
        argv += ["--before", args.before]
    res["real20k"] = _json_tail(run_child(argv, timeout=3 * 3600, env=_code_env(None)), "bench/incremental_real.py")
    res["load"].append(loadavg())
    for what, key in (("ui", "first_chat"), ("ask-cold", "cold_ask")):
        for label, root in codes:
            log(f"targets: first_run.py {what} ({label})")
            r = run_child([PY, str(BENCH / "first_run.py"), what, "--runs", str(3 if args.quick else 5)],
                          timeout=3600, env=_code_env(root))
            try:
                res.setdefault(key, {})[label] = _json_tail(r, f"bench/first_run.py {what} ({label})")
            except (RuntimeError, ValueError, IndexError) as exc:
                if label == "now":
                    raise
                res[key][label + "_error"] = str(exc)[:300]  # the old code may lack what the script drives
            res["load"].append(loadavg())
    if (EVAL_INDEX / "CURRENT").exists():
        log("targets: rag eval (hybrid) on SciFact")
        r = run_child(_rag_cli() + ["eval", str(SCIFACT), "--mode", "hybrid", "--index", str(EVAL_INDEX), "--json"],
                      timeout=3600, env=_code_env(None))
        res["scifact"] = _json_tail(r, "rag eval")
    else:
        res["scifact"] = {"skipped": f"{EVAL_INDEX} is not built (run `rag eval {SCIFACT}` once)"}
    return res


def render_targets(t: dict) -> list[tuple]:
    med = statistics.median
    rows = []
    sc = t.get("scale")
    if sc:
        rows.append((f"Add one 3-paragraph file to {sc['n']:,} passages (backend, median of {len(sc['add_s'])})",
                     f"{med(sc['add_s']):.3f} s", f"{sc['rebuild_s']:.0f} s (full rebuild)", f"{sc['rebuild_s'] / med(sc['add_s']):,.0f}x",
                     "<= 2 s", _ok(med(sc["add_s"]) <= 2.0), ""))
        rows.append((f"Remove it ({sc['n']:,} passages)", f"{med(sc['remove_s']):.3f} s", f"{sc['rebuild_s']:.0f} s (full rebuild)",
                     f"{sc['rebuild_s'] / med(sc['remove_s']):,.0f}x", "<= 2 s", _ok(med(sc["remove_s"]) <= 2.0), ""))
    rl = t.get("real20k")
    if rl:
        now, bef = rl["after"], rl.get("before")
        for k, name in (("add_s", "Add one file to a 20,000-file index (`build_index`)"), ("remove_s", "Remove it again")):
            rows.append((f"{name}, median of {len(now[k])}", f"{med(now[k]):.2f} s",
                         f"{med(bef[k]):.2f} s ({t['before_ref']})" if bef else "–",
                         f"{med(bef[k]) / med(now[k]):.1f}x" if bef else "", "<= 1 s" if k == "add_s" else "",
                         _ok(med(now[k]) <= 1.0) if k == "add_s" else "", ""))
    for key, name, field, target in (("first_chat", "First `rag chat` on a fresh clone: UI ready -> first answer", "median_ready_to_answer_s", 3.0),
                                     ("cold_ask", "Cold `rag ask` on the built seed index", "median_wall_s", 0.4)):
        d = t.get(key)
        if d:
            now, bef = d["now"], d.get("before")
            rows.append((f"{name} (median of {now['runs']})", f"{now[field]:.2f} s ({now['min']:.2f}-{now['max']:.2f})",
                         f"{bef[field]:.2f} s ({t['before_ref']})" if bef else "–",
                         f"{bef[field] / now[field]:.1f}x" if bef else "", f"<= {target} s", _ok(now[field] <= target), ""))
    sf = t.get("scifact", {})
    nd = ((sf.get("modes") or {}).get("hybrid") or {}).get("ndcg@10")
    rows.append(("SciFact hybrid nDCG@10 (`rag eval`)", f"{nd:.4f}" if nd is not None else sf.get("skipped", json.dumps(sf)[:120]),
                 "0.7302 (README)", "", ">= 0.730", _ok(nd >= 0.730) if nd is not None else "", ""))
    rows.append(("  load average during the targets (1, 5, 15 min)", "; ".join(map(str, t.get("load", []))), "", "", "", "", ""))
    return rows


SECTION_FUNCS = {"targets": section_targets, "index": section_index, "query": section_query, "cold": section_cold, "incr": section_incr,
                 "scale": section_scale, "ui": section_ui}


# =================================================================================== report
def _f(x, fmt="{:.2f}", none="–"):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return none
    return fmt.format(x)


def _mb(*xs):
    return " / ".join(_f(x, "{:.0f}") for x in xs) + " MB"


def _ok(flag):
    return "–" if flag is None else ("**yes**" if flag else "**NO**")


def render(results: dict) -> str:
    s = results["sections"]
    rows = []  # (figure, ours, baseline, ratio, target, met, rss)
    tg = s.get("targets")
    if isinstance(tg, dict) and "scale" in tg:
        rows.extend(render_targets(tg))
    elif isinstance(tg, dict):
        rows.append(("Issue-10 targets", tg.get("error", "skipped"), "", "", "", "", ""))

    ix = s.get("index")
    if isinstance(ix, dict) and "ours" in ix:
        n = ix["documents"]
        rows.append((
            f"Indexing SciFact ({n:,} abstracts{', subset' if ix['subset'] else ''}), passages/s",
            f"{ix['ours']['per_s']:.1f}/s ({ix['ours']['seconds']:.1f} s, {ix['ours']['encoder']})",
            f"{ix['naive']['per_s']:.1f}/s ({ix['naive']['seconds']:.1f} s, ST fp32 + IndexFlatIP)",
            f"{ix['ratio']:.2f}x", ">= 2.0x", _ok(ix["ratio"] >= 2.0),
            _mb(ix["ours"]["rss_mb"], ix["naive"]["rss_mb"]),
        ))
        ev = ix["eval"]
        for mode in ("hybrid", "dense"):
            d = ev["ours"][mode] - ev["fp32"][mode]
            rows.append((
                f"nDCG@10 {mode}, index built by rag vs from fp32 vectors",
                f"{ev['ours'][mode]:.4f}", f"{ev['fp32'][mode]:.4f}", f"Δ {d:+.4f}", "|Δ| <= 0.003",
                _ok(abs(d) <= 0.003), "",
            ))
        rows.append(("Vector cosine, rag's vs fp32 (min / median)",
                     f"{ev['cosine_min']:.5f} / {ev['cosine_median']:.6f}", "1", "", "", "", ""))
    elif isinstance(ix, dict):
        rows.append(("Indexing", ix.get("error", "skipped"), "", "", "", "", ""))

    q = s.get("query")
    if isinstance(q, dict) and "ours" in q:
        o, nv, one = q["ours"], q["naive"], q["ours_one_thread"]
        for mode, base_key, target in (("dense", "dense", None), ("bm25", "bm25", None), ("hybrid", "dense", 10.0)):
            b = nv.get(base_key)
            rows.append((
                f"Query p50 / p99 in process, {mode} with answer sentences (k={q['k']}, 300 queries)",
                f"{o[mode]['p50_ms']:.1f} / {o[mode]['p99_ms']:.1f} ms",
                (f"{b['p50_ms']:.1f} / {b['p99_ms']:.1f} ms ({'ST encode + FAISS' if base_key == 'dense' else 'bm25s'})"
                 if b else "–"),
                f"{b['p50_ms'] / o[mode]['p50_ms']:.2f}x" if b else "",
                "p50 <= 10 ms" if target else "", _ok(o[mode]["p50_ms"] <= target) if target else "",
                _mb(o["rss_mb"], nv["rss_mb"]) if mode == "hybrid" else "",
            ))
        enc_name = q.get("encoder", "?")
        np_enc = o.get("encode_numpy")  # older result files only (the numpy encoder is gone)
        rows.append((f"  of which: query encoding ({enc_name}) p50; hybrid without answers p50",
                     f"{o['encode']['p50_ms']:.1f} ms; {o['hybrid_no_answers']['p50_ms']:.1f} ms",
                     f"{np_enc['p50_ms']:.1f} ms (numpy encoder, the fallback)" if np_enc else "",
                     f"{np_enc['p50_ms'] / o['encode']['p50_ms']:.2f}x" if np_enc else "", "", "", ""))
        rows.append(("  same with OMP_NUM_THREADS=1 (BLAS, FAISS, ONNX Runtime): hybrid p50 / p99",
                     f"{one['hybrid']['p50_ms']:.1f} / {one['hybrid']['p99_ms']:.1f} ms", "", "", "", "", ""))
    elif isinstance(q, dict):
        rows.append(("Query latency", q.get("error", "skipped"), "", "", "", "", ""))

    c = s.get("cold")
    if isinstance(c, dict) and "ours_summary" in c:
        o, nv = c["ours_summary"], c["naive_summary"]
        rows.append((
            f"Cold `rag ask --json` (fresh process), median of {len(c['ours'])}",
            f"{o['median_s']:.2f} s ({o['min_s']:.2f}-{o['max_s']:.2f})",
            f"{nv['median_s']:.2f} s ({nv['min_s']:.2f}-{nv['max_s']:.2f}, bench/naive_ask.py)",
            f"{c['ratio']:.1f}x", "<= 1.0 s", _ok(o["median_s"] <= 1.0 and o["all_ok"]),
            _mb(o["rss_mb"], nv["rss_mb"]),
        ))
        rows.append(("  torch / transformers / sentence-transformers imported by `rag ask`",
                     ", ".join(c["heavy_modules_imported"]) or "none", "", "", "none",
                     _ok(not c["heavy_modules_imported"]), ""))
    elif isinstance(c, dict):
        rows.append(("Cold rag ask", c.get("error", "skipped"), "", "", "", "", ""))

    inc = s.get("incr")
    if isinstance(inc, dict) and "full" in inc:
        full = inc["full"]["wall_s"]
        rows.append((f"Full `rag index` of {inc['files']:,} seed files ({inc['passages']:,} passages)",
                     f"{full:.1f} s ({inc['full']['encoder']}"
                     + ("; includes the one-time ONNX export" if inc["full"].get("exported_query_encoder") else "") + ")",
                     "", "", "", "", _mb(inc["full"]["rss_mb"])))
        rows.append((
            "`rag index`, no change (median of 5)", f"{inc['nochange']['median_s']:.2f} s",
            f"{full:.1f} s (full rebuild)", f"{full / inc['nochange']['median_s']:.0f}x", "<= 1.0 s",
            _ok(inc["nochange"]["median_s"] <= 1.0 and inc["nochange"]["all_unchanged"]),
            _mb(inc["nochange"]["rss_mb"]),
        ))
        rows.append((
            f"`rag index` after adding one file (median of {len(inc['add']['walls'])}): embedded / file's passages",
            f"{inc['add']['median_s']:.2f} s; " + ", ".join(f"{e}/{f}" for e, f in zip(inc["add"]["embedded"], inc["add"]["file_passages"])),
            f"{full:.1f} s (full rebuild)", f"{full / inc['add']['median_s']:.0f}x", "only that file re-embedded",
            _ok(inc["add"]["only_that_file"]), _mb(inc["add"]["rss_mb"]),
        ))
        rows.append(("`rag index` after removing it", f"{inc['remove']['median_s']:.2f} s; embedded " + ", ".join(map(str, inc['remove']['embedded'])),
                     f"{full:.1f} s", f"{full / inc['remove']['median_s']:.0f}x", "", "", _mb(inc["remove"]["rss_mb"])))
    elif isinstance(inc, dict):
        rows.append(("Incremental rebuild", inc.get("error", "skipped"), "", "", "", "", ""))

    sc = s.get("scale")
    if isinstance(sc, dict) and "flat" in sc:
        flats = {f["n"]: f for f in sc["flat"]}
        for a in sc["ann"]:
            if a["kind"] != "hnsw" or a.get("via", "").startswith("faiss"):
                continue
            f = flats.get(a["n"])
            st = next(x for x in a["settings"] if x["efSearch"] == a["default_efSearch"])
            p50 = st["p50_ms"]["1"]
            met = st["recall@10"] >= 0.95 and p50 <= 5.0 if a["n"] >= 1_000_000 else None
            rows.append((
                f"Scale {a['n']:,} vectors: HNSW (M={a['M']}, efC={a['efConstruction']}, efS={a['default_efSearch']})"
                " recall@10; p50 (1 thread); build",
                f"{st['recall@10']:.3f}; {p50:.2f} ms; {a['build_s']:.0f} s",
                f"exact flat: 1.000; {f['p50_ms']['1']:.2f} ms; {f['build_s']:.1f} s" if f else "–",
                f"{f['p50_ms']['1'] / p50:.0f}x faster" if f else "",
                "R@10 >= 0.95, p50 <= 5 ms" if a["n"] >= 1_000_000 else "", _ok(met),
                (f"index {a['index_mb']:.0f} MB, build peak +{a['build_rss_peak_delta_mb']:.0f} MB / "
                 f"{f['index_mb']:.0f} MB, +{f['build_rss_delta_mb']:.0f} MB") if f else f"index {a['index_mb']:.0f} MB",
            ))
        bm = sc.get("bm25")
        if bm:
            rows.append((f"Synthetic BM25 text, {bm['n']:,} docs ({bm['tokens'] / 1e6:.1f}M words): build; query p50",
                         f"{bm['build_s']:.1f} s; {bm['p50_ms']:.2f} ms", "", "", "", "",
                         f"index {bm['index_mb']:.0f} MB, build +{bm['build_rss_peak_delta_mb']:.0f} MB"))
    elif isinstance(sc, dict):
        rows.append(("Scale", sc.get("error", "skipped"), "", "", "", "", ""))

    ui = s.get("ui")
    if isinstance(ui, dict) and "headless" in ui:
        hs = ui["headless"]["median_s"]
        rows.append((f"UI first frame from process start (headless run_test; median of {len(ui['headless']['runs'])})",
                     f"{hs:.2f} s", "", "", "<= 0.5 s", _ok(hs <= 0.5), _mb(ui["headless"]["rss_mb"])))
        if ui["pty"]["median_s"] is not None:
            ps = ui["pty"]["median_s"]
            rows.append(("UI first frame in a real terminal (pty, header text written)",
                         f"{ps:.2f} s", "", "", "<= 0.5 s", _ok(ps <= 0.5), ""))
    elif isinstance(ui, dict):
        rows.append(("UI first frame", ui.get("skipped") or ui.get("error", "skipped"), "", "", "", "", ""))

    m = results["meta"]
    head = [
        f"Benchmark run {m['started']} on {m['cpu']} ({m['cores']} cores, "
        f"bf16: {'yes' if m['cpu_bf16'] else 'no'}), {'--quick' if m['quick'] else 'full'} run, "
        f"{m['minutes']:.1f} min; load average at start {m['load_start']}, end {m['load_end']}.",
        "",
        "| Figure | rag | Baseline | Ratio | Target | Met | Peak RSS (rag / baseline) |",
        "|---|---|---|---|---|---|---|",
    ]
    body = ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    text = "\n".join(head + body)
    if isinstance(sc, dict) and "flat" in sc:
        text += "\n\n" + render_scale(sc)
    text += "\n\nReproduce: `" + m["command"] + "`\n"
    return text


def render_scale(sc: dict) -> str:
    d = sc["data"]
    lines = [
        "Scale detail: synthetic 384-d unit vectors, 2,000 clusters (centers and spread drawn with the covariance of "
        f"SciFact's MiniLM vectors: {d['spectrum']}); {d['params']['queries']} queries from the same distribution. "
        f"Nearest-neighbour cosine p5/p50/p95 among {len(d.get('synthetic_doc_nn_cos_at_scifact_size') or [])and 5183} "
        f"points: synthetic {d.get('synthetic_doc_nn_cos_at_scifact_size')}, SciFact {d.get('scifact_doc_nn_cos_p5_p50_p95')}; "
        "query top-1 cosine at " + ", ".join(f"{int(n):,}: {v['query_top1_cos_p5_p50_p95']}" for n, v in d["nn_stats"].items())
        + ". p50 is one query at a time, k=10, query encoding excluded; builds use all cores "
        "(faiss.omp_set_num_threads(cores)), queries 1 thread and the default (cores) where shown.",
        "",
        "| Index | n | Build | Index size | Build peak RSS delta | Setting | Recall@10 | p50 1 thread | p50 default threads |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in sc["flat"]:
        th = [k for k in f["p50_ms"] if k != "1"]
        lines.append(
            f"| exact IndexFlatIP | {f['n']:,} | {f['build_s']:.1f} s | {f['index_mb']:.0f} MB | "
            f"{f['build_rss_delta_mb']:.0f} MB | – | {_f(f.get('recall@10'), '{:.3f}')} | {f['p50_ms']['1']:.2f} ms | "
            f"{_f(f['p50_ms'][th[0]] if th else None)} ms |"
        )
    for a in sc["ann"]:
        if a["kind"] == "hnsw":
            name = f"HNSW M={a['M']} efC={a['efConstruction']}" + (" (rag default)" if a.get("via", "").startswith("rag") else "")
        else:
            name = f"IVF{a['nlist']},SQ8"
        for st in a["settings"]:
            th = [k for k in st["p50_ms"] if k != "1"]
            lines.append(
                f"| {name} | {a['n']:,} | {a['build_s']:.0f} s | {a['index_mb']:.0f} MB | "
                f"{a['build_rss_peak_delta_mb']:.0f} MB | {a['knob']}={st[a['knob']]} | {st['recall@10']:.3f} | "
                f"{st['p50_ms']['1']:.2f} ms | {_f(st['p50_ms'][th[0]] if th else None)}{' ms' if th else ''} |"
            )
    return "\n".join(lines)


# =================================================================================== main
def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_bf16() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return any(line.startswith("flags") and ("avx512_bf16" in line or "amx_bf16" in line) for line in f)
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="500-document subset, 100k-vector scale, fewer repeats")
    ap.add_argument("--out", default=str(BENCH / "out"))
    ap.add_argument("--only", default="", help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})")
    ap.add_argument("--hnsw", action="append", default=[], metavar="M,EFC",
                    help="also build HNSW with these parameters in the scale section (repeatable)")
    ap.add_argument("--before", default=BEFORE_REF, metavar="REF",
                    help=f"the previous code for the targets section (default {BEFORE_REF}; '' for none)")
    ap.add_argument("--render", metavar="RESULTS_JSON", help="only re-render the table of an earlier run")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        WORKERS[args.worker](json.loads(args.params))
        return 0
    if args.render:
        results = json.loads(Path(args.render).read_text(encoding="utf-8"))
        md = render(results)
        Path(args.render).with_name("results.md").write_text(md, encoding="utf-8")
        print(md)
        return 0
    args.cold_runs = 3 if args.quick else 7
    args.incr_reps = 1 if args.quick else 3
    args.ui_runs = 3 if args.quick else 5
    args.scale_queries = 500 if args.quick else 1000
    only = [x.strip() for x in args.only.split(",") if x.strip()] or list(SECTIONS)
    bad = [x for x in only if x not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s) {bad}; choose from {SECTIONS}")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = ".venv/bin/python bench/run.py" + (" --quick" if args.quick else "") + (
        f" --only {args.only}" if args.only else "") + "".join(f" --hnsw {h}" for h in args.hnsw)
    t_start = time.perf_counter()
    results: dict = {
        "meta": {
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": cmd, "quick": args.quick, "cpu": cpu_name(), "cores": os.cpu_count(),
            "cpu_bf16": cpu_bf16(), "python": platform.python_version(), "load_start": loadavg(),
        },
        "sections": {},
    }
    versions = run_child([PY, "-c", "import json, faiss, numpy, torch, sentence_transformers, bm25s; print(json.dumps("
                          "{m.__name__: getattr(m, '__version__', '?') for m in (faiss, numpy, torch, sentence_transformers, bm25s)}))"],
                         timeout=120)
    if versions["rc"] == 0:
        results["meta"]["versions"] = json.loads(versions["stdout"].strip().splitlines()[-1])
    work = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    try:
        for name in only:
            log(f"== {name} (load {loadavg()})")
            t = time.perf_counter()
            load0 = loadavg()
            try:
                res = SECTION_FUNCS[name](args, work)
            except Exception as exc:  # one failing section must not lose the others
                traceback.print_exc()
                res = {"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]}
            res["seconds"] = round(time.perf_counter() - t, 1)
            res["load_start"], res["load_end"] = load0, loadavg()
            results["sections"][name] = res
            results["meta"]["load_end"] = loadavg()
            results["meta"]["minutes"] = (time.perf_counter() - t_start) / 60
            (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["meta"]["orchestrator_vmhwm_mb"] = round(proc_status_mb("VmHWM"), 1)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    md = render(results)
    (out_dir / "results.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
