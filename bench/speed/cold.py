"""cold: wall time of ``rag ask "..." --json`` as a fresh process on indexes/beir-scifact vs
bench/speed/naive_ask.py (sentence-transformers + a FAISS file of the same vectors), interleaved; and
whether `rag ask` imports torch, transformers or sentence-transformers.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from harness import BENCH, EVAL_INDEX, PY, SCIFACT, emit, log, mb, met, rag_cli, run_child, run_worker
from rag.evaluation import beir

TITLE = "Cold rag ask"
NAIVE = BENCH / "speed" / "naive_ask.py"


def w_naive_index(p: dict) -> None:
    """The folder naive_ask.py reads: the eval index's vectors as a FAISS flat file (dense.faiss)
    and its passages' texts in row order (passages.jsonl)."""
    import faiss  # heavy: in the worker only
    import numpy as np

    from rag.search.retriever import Retriever

    out = Path(p["out"])
    out.mkdir(parents=True, exist_ok=True)
    r = Retriever.open(p["index"])
    vecs = np.ascontiguousarray(r.vectors, dtype=np.float32)
    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(vecs)
    faiss.write_index(index, str(out / "dense.faiss"))
    with open(out / "passages.jsonl", "w", encoding="utf-8") as f:
        for x in r.passages:
            f.write(json.dumps({"text": x.text, "source": x.source}) + "\n")
    emit({"passages": len(vecs)})


WORKERS = {"naive_index": w_naive_index}


def answered(r: dict) -> bool:
    try:
        return r["rc"] == 0 and len(json.loads(r["stdout"].strip().splitlines()[-1])["hits"]) > 0
    except (ValueError, IndexError, KeyError):
        return False


def run(args, work: Path) -> dict:
    runs = args.cold_runs
    naive_dir = work / "naive-index"
    run_worker("naive_index", {"index": str(EVAL_INDEX), "out": str(naive_dir)})
    r = run_child([PY, "-c", "from rag.embedding.model import default_model_dir; print(default_model_dir())"], timeout=120)
    model_dir = r["stdout"].strip().splitlines()[-1]
    ds = beir.load(SCIFACT, "test")
    qs = list(ds.queries.values())

    def ours_cmd(q: str) -> list[str]:
        return rag_cli() + ["ask", q, "--json", "--index", str(EVAL_INDEX)]

    def naive_cmd(q: str) -> list[str]:
        return [PY, str(NAIVE), "--index-dir", str(naive_dir), "--model", model_dir, q]

    res: dict = {"ours": [], "naive": [], "questions": qs[:runs]}
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
            ok = answered(r)
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


def rows(c: dict) -> list[tuple]:
    o, nv = c["ours_summary"], c["naive_summary"]
    return [
        (f"Cold `rag ask --json` (fresh process), median of {len(c['ours'])}",
         f"{o['median_s']:.2f} s ({o['min_s']:.2f}-{o['max_s']:.2f})",
         f"{nv['median_s']:.2f} s ({nv['min_s']:.2f}-{nv['max_s']:.2f}, bench/speed/naive_ask.py)",
         f"{c['ratio']:.1f}x", "<= 1.0 s", met(o["median_s"] <= 1.0 and o["all_ok"]), mb(o["rss_mb"], nv["rss_mb"])),
        ("  torch / transformers / sentence-transformers imported by `rag ask`",
         ", ".join(c["heavy_modules_imported"]) or "none", "", "", "none", met(not c["heavy_modules_imported"]), ""),
    ]
