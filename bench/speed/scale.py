"""scale: synthetic clustered 384-d vectors (100k and 1M; 100k only with --quick): exact IndexFlatIP
vs rag.index.dense.DenseIndex.build(kind="hnsw") (and IVF-SQ8): build time, memory, query p50,
recall@10 against exact; exact-search p50 over sizes (to place APPROX_THRESHOLD); synthetic BM25
text at 100k through rag's index (BM25 alone).

The workers import numpy and FAISS inside their functions: the orchestrator imports this module too
and stays light.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from pathlib import Path

from harness import EVAL_INDEX, emit, fmt, log, met, proc_status_mb, reset_peak_rss, run_worker
from rag.evaluation.metrics import percentile

TITLE = "Scale"
DIM = 384


def r3(x):
    return None if x is None else round(float(x), 3)


def scifact_vectors():
    """The eval index's vectors (float64), or None when it is not built."""
    import numpy as np  # heavy: in the worker only

    from rag.errors import RagError
    from rag.index.local import LocalIndex

    try:
        with LocalIndex.open(EVAL_INDEX) as ours:
            return ours.live_vectors().astype(np.float64)
    except (OSError, RagError):  # not built
        return None


def spectrum_factor(real):
    """A 384x384 factor L with z @ L ~ N(0, C), C the covariance of SciFact's MiniLM vectors, and
    their mean; isotropic (C = I/384, mean 0) without them."""
    import numpy as np  # heavy: in the worker only

    if real is None:
        return np.eye(DIM, dtype=np.float32) / math.sqrt(DIM), np.zeros(DIM, np.float32), "isotropic"
    m = real.mean(0)
    c = real - m
    ev, u = np.linalg.eigh(c.T @ c / len(c))
    return (u * np.sqrt(np.clip(ev, 0, None))).T.astype(np.float32), m.astype(np.float32), "scifact-covariance"


def nn_cosines(x) -> list:
    """p5 / p50 / p95 of each point's nearest-neighbour cosine among the points."""
    import numpy as np  # heavy: in the worker only

    s = x @ x.T
    np.fill_diagonal(s, -1)
    return [r3(v) for v in np.percentile(s.max(1), [5, 50, 95])]


def w_scale_data(p: dict) -> None:
    """Clustered unit vectors: ``n_centers`` topic centers c = mean + alpha * z L, points and queries
    x = c + beta * z' L (z, z' standard normal, L from SciFact's covariance), then normalized; and
    the exact top-10 of every query at each size in ``gt_sizes`` (over the first n points)."""
    import faiss  # heavy: in the worker only
    import numpy as np

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(p["seed"])
    real = scifact_vectors()
    L, mean, how = spectrum_factor(real)
    centers = mean + p["alpha"] * (rng.standard_normal((p["n_centers"], DIM), dtype=np.float32) @ L)
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
        dd, _ = flat.search(np.ascontiguousarray(base[:500]), 2)
        stats[str(n)] = {
            "query_top1_cos_p5_p50_p95": [r3(x) for x in np.percentile(d[:, 0], [5, 50, 95])],
            "query_top10_cos_median": r3(np.median(d[:, 9])),
            "doc_nn_cos_p5_p50_p95": [r3(x) for x in np.percentile(dd[:, 1], [5, 50, 95])],
            "gt_seconds": round(time.perf_counter() - t, 2),
        }
        del flat
    # The real thing, for comparison: nearest-neighbour cosines within SciFact's vectors.
    same_n = None if real is None else nn_cosines(np.asarray(base[:len(real)]))
    emit({"generate_s": gen_s, "spectrum": how, "nn_stats": stats,
          "scifact_doc_nn_cos_p5_p50_p95": None if real is None else nn_cosines(real),
          "synthetic_doc_nn_cos_at_scifact_size": same_n, "scifact_size": None if real is None else len(real)})


def timed_queries(index, queries, nq: int, k: int = 10) -> list[float]:
    """Milliseconds of ``nq`` one-query searches (after five to warm up)."""
    out = []
    for i in range(min(5, len(queries))):
        index.search(queries[i: i + 1], k)
    for i in range(nq):
        q = queries[i % len(queries): i % len(queries) + 1]
        t = time.perf_counter()
        index.search(q, k)
        out.append((time.perf_counter() - t) * 1000)
    return out


def recall(ids, gt) -> float:
    hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(ids, gt))
    return hits / float(gt.size)


def latencies(index, queries, nq: int, threads: list[int]) -> dict:
    """p50 / p99 milliseconds at each thread count."""
    import faiss  # heavy: in the worker only

    out: dict = {"p50_ms": {}, "p99_ms": {}}
    for th in threads:
        faiss.omp_set_num_threads(th)
        ts = timed_queries(index, queries, nq)
        out["p50_ms"][str(th)] = percentile(ts, 50)
        out["p99_ms"][str(th)] = percentile(ts, 99)
    return out


def points(folder: Path, n: int):
    """The first n points of the data set (in memory) and its queries."""
    import numpy as np  # heavy: in the worker only

    return np.ascontiguousarray(np.load(folder / "base.npy", mmap_mode="r")[:n]), np.load(folder / "queries.npy")


def w_scale_flat(p: dict) -> None:
    import faiss  # heavy: in the worker only
    import numpy as np

    folder, n = Path(p["dir"]), p["n"]
    x, queries = points(folder, n)
    rss0 = proc_status_mb("VmRSS")
    reset_peak_rss()
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    t = time.perf_counter()
    index = faiss.IndexFlatIP(DIM)
    index.add(x)
    res = {"n": n, "build_s": time.perf_counter() - t, "index_mb": n * DIM * 4 / 2**20,
           "build_rss_delta_mb": proc_status_mb("VmHWM") - rss0}
    del x
    res.update(latencies(index, queries, p["nq"], p["threads"]))
    gt_path = folder / f"gt_{n}.npy"
    if gt_path.exists():
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        res["recall@10"] = recall(index.search(queries, 10)[1], np.load(gt_path))
    emit(res)


def w_scale_ann(p: dict) -> None:
    """An approximate index over the first n points: build, memory, recall@10 and p50 per setting."""
    import faiss  # heavy: in the worker only
    import numpy as np

    import rag.index.dense as rd

    folder, n = Path(p["dir"]), p["n"]
    x, queries = points(folder, n)
    gt = np.load(folder / f"gt_{n}.npy")
    build_threads = os.cpu_count() or 1
    faiss.omp_set_num_threads(build_threads)
    rss0 = proc_status_mb("VmRSS")
    reset_peak_rss()
    t = time.perf_counter()
    res: dict = {"n": n, "kind": p["kind"], "build_threads": build_threads}
    if p["kind"] == "hnsw":
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
        index.train(x[np.random.default_rng(1).choice(n, ntrain, replace=False)])
        index.add(x)
        res.update(nlist=nlist, trained_on=ntrain)

        def set_knob(v):
            faiss.extract_index_ivf(index).nprobe = v

        knob, default = "nprobe", p["sweep"][0]
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
        row = {knob: v, "recall@10": recall(index.search(queries, 10)[1], gt)}
        row.update(latencies(index, queries, p["nq"], p["threads"] if v == default else p["threads"][:1]))
        res["settings"].append(row)
    emit(res)


def w_bm25_synth(p: dict) -> None:
    """Random-word documents (Zipf vocabulary) through rag's index (bench/corpus_index.py: BM25 alone):
    tokenize, build, query p50 (BM25 scores and the retriever's top-k cut)."""
    import numpy as np  # heavy: in the worker only

    from corpus_index import write
    from rag.documents.tokens import tokenize, tokenize_many
    from rag.index.local import LocalIndex
    from rag.search.fusion import top_positive

    rng = np.random.default_rng(p["seed"])
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = ["".join(rng.choice(letters, rng.integers(4, 11))) for _ in range(p["vocab"])]
    probs = 1.0 / np.arange(1, p["vocab"] + 1) ** 1.07
    probs /= probs.sum()
    lengths = rng.poisson(p["words"], p["n"]) + 5
    words = rng.choice(p["vocab"], size=int(lengths.sum()), p=probs)
    ends = np.cumsum(lengths)
    docs = [" ".join(vocab[w] for w in words[e - ln: e]) for e, ln in zip(ends, lengths)]
    queries = [" ".join(vocab[w] for w in row) for row in rng.choice(p["vocab"], size=(p["nq"], 6), p=probs)]
    rss0 = proc_status_mb("VmRSS")
    reset_peak_rss()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        toks = tokenize_many(docs)
        tok_s = time.perf_counter() - t
        write(Path(tmp) / "bm25", toks)
        build_s = time.perf_counter() - t
        peak = proc_status_mb("VmHWM") - rss0
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 2**20
        with LocalIndex.open(Path(tmp) / "bm25") as index:
            for q in queries[:5]:
                top_positive(index.lexical_positions(tokenize(q)), 100)
            ts = []
            for q in queries:
                t = time.perf_counter()
                top_positive(index.lexical_positions(tokenize(q)), 100)
                ts.append((time.perf_counter() - t) * 1000)
    emit({"n": p["n"], "tokens": int(lengths.sum()), "tokenize_s": tok_s, "build_s": build_s,
          "build_rss_peak_delta_mb": peak, "index_mb": size, "p50_ms": percentile(ts, 50), "p99_ms": percentile(ts, 99)})


WORKERS = {"scale_data": w_scale_data, "scale_flat": w_scale_flat, "scale_ann": w_scale_ann, "bm25_synth": w_bm25_synth}


def run(args, work: Path) -> dict:
    quick = args.quick
    n_max = 100_000 if quick else 1_000_000
    flat_sizes = [50_000, 100_000] if quick else [50_000, 100_000, 200_000, 500_000, 1_000_000]
    ann_sizes = [100_000] if quick else [100_000, 1_000_000]
    threads = [1, os.cpu_count() or 1]
    data = work / "scale"
    data.mkdir(parents=True, exist_ok=True)
    out: dict = {"n_max": n_max}
    shape = {"n_centers": 2000, "alpha": 0.8, "beta": 0.6}
    log(f"scale: generating {n_max} clustered vectors and exact top-10 at {ann_sizes}")
    out["data"] = run_worker("scale_data", {"dir": str(data), "n_max": n_max, "n_queries": args.scale_queries,
                                            "seed": 0, "gt_sizes": ann_sizes, **shape})
    out["data"]["params"] = {**shape, "queries": args.scale_queries}
    out["flat"] = []
    for n in flat_sizes:
        log(f"scale: flat {n}")
        r = run_worker("scale_flat", {"dir": str(data), "n": n, "nq": 200 if n <= 200_000 else 100, "threads": threads})
        out["flat"].append(r)
        log(f"scale: flat {n}: p50 {r['p50_ms']} ms")
    out["ann"] = []
    hnsw_extra = [tuple(int(v) for v in s.split(",")) for s in args.hnsw]
    for n in ann_sizes:
        for M, efc in [(None, None)] + hnsw_extra:
            log(f"scale: hnsw {n} M={M or 'default'} efC={efc or 'default'} (building...)")
            r = run_worker("scale_ann", {"dir": str(data), "n": n, "kind": "hnsw", "M": M, "efC": efc,
                                         "sweep": [32, 64, 128, 256], "nq": 300, "threads": threads})
            out["ann"].append(r)
            log(f"scale: hnsw {n}: build {r['build_s']:.1f} s; " + ", ".join(
                f"ef {s['efSearch']}: R {s['recall@10']:.3f} p50 {s['p50_ms']['1']:.2f} ms" for s in r["settings"]))
        log(f"scale: IVF1024,SQ8 {n}")
        r = run_worker("scale_ann", {"dir": str(data), "n": n, "kind": "ivfsq", "nlist": 1024, "train": 65536,
                                     "sweep": [8, 16, 32, 64], "nq": 300, "threads": [1]})
        out["ann"].append(r)
        log(f"scale: ivf {n}: build {r['build_s']:.1f} s; " + ", ".join(
            f"nprobe {s['nprobe']}: R {s['recall@10']:.3f} p50 {s['p50_ms']['1']:.2f} ms" for s in r["settings"]))
    n_bm = 20_000 if quick else 100_000
    log(f"scale: synthetic BM25 text at {n_bm} documents")
    out["bm25"] = run_worker("bm25_synth", {"n": n_bm, "words": 120, "vocab": 50_000, "nq": 300, "seed": 0})
    shutil.rmtree(data, ignore_errors=True)
    return out


def rows(sc: dict) -> list[tuple]:
    """HNSW as rag builds it next to exact search at the same size; the BM25 build."""
    out = []
    flats = {f["n"]: f for f in sc["flat"]}
    for a in sc["ann"]:
        if a["kind"] != "hnsw" or a.get("via", "").startswith("faiss"):
            continue
        f = flats.get(a["n"])
        st = next(x for x in a["settings"] if x["efSearch"] == a["default_efSearch"])
        p50 = st["p50_ms"]["1"]
        big = a["n"] >= 1_000_000
        out.append((
            f"Scale {a['n']:,} vectors: HNSW (M={a['M']}, efC={a['efConstruction']}, efS={a['default_efSearch']})"
            " recall@10; p50 (1 thread); build",
            f"{st['recall@10']:.3f}; {p50:.2f} ms; {a['build_s']:.0f} s",
            f"exact flat: 1.000; {f['p50_ms']['1']:.2f} ms; {f['build_s']:.1f} s" if f else "–",
            f"{f['p50_ms']['1'] / p50:.0f}x faster" if f else "",
            "R@10 >= 0.95, p50 <= 5 ms" if big else "", met(st["recall@10"] >= 0.95 and p50 <= 5.0 if big else None),
            (f"index {a['index_mb']:.0f} MB, build peak +{a['build_rss_peak_delta_mb']:.0f} MB / "
             f"{f['index_mb']:.0f} MB, +{f['build_rss_delta_mb']:.0f} MB") if f else f"index {a['index_mb']:.0f} MB",
        ))
    bm = sc.get("bm25")
    if bm:
        out.append((f"Synthetic BM25 text, {bm['n']:,} docs ({bm['tokens'] / 1e6:.1f}M words): build; query p50",
                    f"{bm['build_s']:.1f} s; {bm['p50_ms']:.2f} ms", "", "", "", "",
                    f"index {bm['index_mb']:.0f} MB, build +{bm['build_rss_peak_delta_mb']:.0f} MB"))
    return out


def detail(sc: dict) -> str:
    """Every index and setting measured, one line each, under the results table."""
    d = sc["data"]

    def p50_default(lat: dict) -> str:
        th = [k for k in lat if k != "1"]
        return f"{lat[th[0]]:.2f} ms" if th else "–"

    lines = [
        "Scale detail: synthetic 384-d unit vectors, 2,000 clusters (centers and spread drawn with the covariance of "
        f"SciFact's MiniLM vectors: {d['spectrum']}); {d['params']['queries']} queries from the same distribution. "
        f"Nearest-neighbour cosine p5/p50/p95 among {fmt(d.get('scifact_size'), '{:,}')} points: synthetic "
        f"{d.get('synthetic_doc_nn_cos_at_scifact_size')}, SciFact {d.get('scifact_doc_nn_cos_p5_p50_p95')}; "
        "query top-1 cosine at " + ", ".join(f"{int(n):,}: {v['query_top1_cos_p5_p50_p95']}" for n, v in d["nn_stats"].items())
        + ". p50 is one query at a time, k=10, query encoding excluded; builds use all cores "
        "(faiss.omp_set_num_threads(cores)), queries 1 thread and the default (cores) where shown.",
        "",
        "| Index | n | Build | Index size | Build peak RSS delta | Setting | Recall@10 | p50 1 thread | p50 default threads |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in sc["flat"]:
        lines.append(f"| exact IndexFlatIP | {f['n']:,} | {f['build_s']:.1f} s | {f['index_mb']:.0f} MB | "
                     f"{f['build_rss_delta_mb']:.0f} MB | – | {fmt(f.get('recall@10'), '{:.3f}')} | "
                     f"{f['p50_ms']['1']:.2f} ms | {p50_default(f['p50_ms'])} |")
    for a in sc["ann"]:
        if a["kind"] == "hnsw":
            name = f"HNSW M={a['M']} efC={a['efConstruction']}" + (" (rag default)" if a.get("via", "").startswith("rag") else "")
        else:
            name = f"IVF{a['nlist']},SQ8"
        for st in a["settings"]:
            lines.append(f"| {name} | {a['n']:,} | {a['build_s']:.0f} s | {a['index_mb']:.0f} MB | "
                         f"{a['build_rss_peak_delta_mb']:.0f} MB | {a['knob']}={st[a['knob']]} | {st['recall@10']:.3f} | "
                         f"{st['p50_ms']['1']:.2f} ms | {p50_default(st['p50_ms'])} |")
    return "\n".join(lines)
