"""Document-embedding throughput of each path (issue 10, item 5): ONNX Runtime fp32 (the export
built by rag.embedding.bert_graph) vs sentence-transformers in torch (bf16 autocast where the CPU
has native bf16, and fp32), on the same texts, each in its own process, interleaved.

    python bench/doc_embed_paths.py [--runs 3] [--n 500] [--set seed|long]

Texts: ``seed`` = passages shaped like the seed article's (its paragraphs, median ~250 characters:
SciFact abstracts cut into groups of 1-2 sentences), ``long`` = whole SciFact abstracts (median
~1,400 characters, most truncated at the model's 256 word-pieces). Each encoder sorts by length and
batches as a build does. Reported per run: passages/s by wall clock and by CPU time (user+sys of
the process, all threads), after the model is loaded and one warm-up batch. Prints one JSON line per
run and a summary of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import SCIFACT
from rag.documents.sentences import split_sentences
from rag.evaluation import beir

PATHS = ("onnx-fp32", "torch-auto", "torch-fp32")


def texts(kind: str, n: int) -> list[str]:
    abstracts = [p.text for p in beir.load(SCIFACT, "test").passages]
    random.Random(7).shuffle(abstracts)
    out: list[str] = []
    for text in abstracts:
        if kind == "long":
            out.append(text)
        else:
            sents = split_sentences(text)
            for i in range(0, len(sents), 2):
                out.append(" ".join(sents[i : i + 2]))
        if len(out) >= n:
            break
    return out[:n]


def child(path: str, kind: str, n: int) -> None:
    data = texts(kind, n)
    if path == "onnx-fp32":  # each child imports only the path it measures (torch stays out of ONNX's)
        from rag.embedding.model import model_info
        from rag.embedding.onnx_encoder import export_without_torch, load_export

        info = model_info()
        export_without_torch(info)
        enc = load_export(Path(info.path), info)
    else:
        from rag.embedding.document_encoder import DocumentEncoder

        enc = DocumentEncoder(precision="auto" if path == "torch-auto" else "fp32")
        enc.sentence_transformer()
    enc.encode(data[:32])  # warm-up
    c0, t0 = os.times(), time.perf_counter()
    enc.encode(data)
    c1, t1 = os.times(), time.perf_counter()
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    print(json.dumps({"path": getattr(enc, "path_name", path) if path != "onnx-fp32" else path, "n": len(data),
                      "wall_s": round(t1 - t0, 3), "cpu_s": round(cpu, 3),
                      "per_s_wall": round(len(data) / (t1 - t0), 1), "per_s_cpu": round(len(data) / cpu, 1)}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--set", choices=["seed", "long"], default="seed")
    a = ap.parse_args()
    rows: dict[str, list[dict]] = {p: [] for p in PATHS}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "RAG_CACHE_DIR": cache, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
        for _ in range(a.runs):
            for p in PATHS:  # interleaved: the machine's load hits every path alike
                out = subprocess.run([sys.executable, __file__, "_child", p, a.set, str(a.n)], env=env,
                                     capture_output=True, text=True, timeout=1200)
                if out.returncode != 0:
                    raise SystemExit(out.stderr[-3000:])
                row = json.loads(out.stdout.strip().splitlines()[-1])
                rows[p].append(row)
                print(json.dumps({"set": a.set, **row}), flush=True)
    print(json.dumps({"set": a.set, "n": a.n, "median_per_s_wall": {p: statistics.median(r["per_s_wall"] for r in v)
                                                                     for p, v in rows.items()},
                      "median_per_s_cpu": {p: statistics.median(r["per_s_cpu"] for r in v) for p, v in rows.items()}}))


if __name__ == "__main__":
    main()
