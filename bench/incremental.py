"""Incremental updates at scale: add/remove one 3-paragraph file on a large segmented index.

    PYTHONPATH=$PWD .venv/bin/python bench/incremental.py [--n 1000000] [--out bench/out]

Builds once (cached in OUT/incremental-N/) an index of N passages through rag.index.local: synthetic
normalized 384-d vectors (one HNSW segment) and real BM25 text (three SciFact sentences per passage,
drawn at random). The build's wall time is the baseline: what a full rebuild costs (HNSW
construction, BM25 postings, writing and hashing). Then, median of 5: add one file (open the index
for writing, tokenize, 3 upserts, commit, close), remove it again, and a dense + lexical query.
Not part of the test suite; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from harness import BENCH, SCIFACT, markdown_table, median_of
from rag.documents.sentences import split_sentences
from rag.documents.tokens import tokenize
from rag.evaluation import beir
from rag.index.backend import Record
from rag.index.local import LocalIndex
from rag.search.fusion import top_positive

DIM = 384


def sentences() -> list[str]:
    """SciFact's sentences (longer than 20 characters), as rag splits them."""
    return [s for p in beir.load(SCIFACT, "test").passages for s in split_sentences(p.text) if len(s) > 20]


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def build(idx: Path, n: int) -> dict:
    sents = sentences()
    toks = [tokenize(s) for s in sents]
    rng = np.random.default_rng(0)
    pick = rng.integers(0, len(sents), size=(n, 3))
    t0 = time.perf_counter()
    w = LocalIndex.open(idx, writable=True, dim=DIM)
    chunk = 100_000
    for a in range(0, n, chunk):
        vecs = unit(rng, min(chunk, n - a))
        w.upsert(Record(f"base/{i // 3}.txt#{i % 3}", vecs[i - a],
                        toks[pick[i, 0]] + toks[pick[i, 1]] + toks[pick[i, 2]],
                        {"text": " ".join(sents[j] for j in pick[i]), "source": f"base/{i // 3}.txt",
                         "start_line": 1 + 2 * (i % 3), "end_line": 1 + 2 * (i % 3)})
                 for i in range(a, a + len(vecs)))
        print(f"  queued {a + len(vecs):,} passages", file=sys.stderr, flush=True)
    t1 = time.perf_counter()
    w.commit()
    w.close()
    t2 = time.perf_counter()
    stats = {"passages": n, "queue_s": t1 - t0, "commit_s": t2 - t1, "segments": LocalIndex.open(idx, preload=False).segments()}
    (idx.parent / f"{idx.name}.build.json").write_text(json.dumps(stats, indent=1))
    return stats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    ap.add_argument("--json", action="store_true", help="end with one JSON line of the figures (for bench/run.py)")
    args = ap.parse_args()
    idx = args.out / f"incremental-{args.n}"
    meta = idx.parent / f"{idx.name}.build.json"
    built_now = not meta.exists()
    if built_now:
        print(f"building the base index of {args.n:,} passages in {idx} (once) ...", file=sys.stderr)
        build(idx, args.n)
    built = json.loads(meta.read_text())
    rng = np.random.default_rng(1)
    paragraphs = [
        "Vitamin D supplementation reduced the incidence of respiratory infections in elderly patients.",
        "The randomized trial followed 1,200 participants for two years; adherence was above 80 percent.",
        "Effects were strongest in participants with low baseline serum levels of 25-hydroxyvitamin D.",
    ]
    counter = iter(range(10**6))

    def add() -> None:
        k = next(counter)
        vecs = unit(rng, 3)
        with LocalIndex.open(idx, writable=True) as w:
            w.upsert(Record(f"new/note{k}.txt#{j}", vecs[j], tokenize(p),
                            {"text": p, "source": f"new/note{k}.txt", "start_line": 2 * j + 1, "end_line": 2 * j + 1})
                     for j, p in enumerate(paragraphs))
            w.commit()

    removed = iter(range(10**6))

    def remove() -> None:
        k = next(removed)
        with LocalIndex.open(idx, writable=True) as w:
            w.delete(f"new/note{k}.txt#{j}" for j in range(3))
            w.commit()

    # interleave add/remove so that every measurement sees the base index plus at most one file
    adds, removes = [], []
    for _ in range(5):
        adds.append(median_of(add, 1))
        removes.append(median_of(remove, 1))
    t = time.perf_counter()
    reader = LocalIndex.open(idx)
    open_s = time.perf_counter() - t
    q = unit(rng, 1)
    qt = tokenize("vitamin D supplementation and respiratory infection risk in older adults")
    dense_s = median_of(lambda: reader.dense_positions(q, 10))
    lex_s = median_of(lambda: top_positive(reader.lexical_positions(qt), 10))  # as the retriever ranks BM25
    rebuild = built["queue_s"] + built["commit_s"]
    rows = [
        ("full rebuild of the index (baseline: HNSW + BM25 + write + hash)", rebuild),
        ("add one 3-paragraph file (open for writing, 3 upserts, commit)", statistics.median(adds)),
        ("remove that file (open for writing, 3 deletes, commit)", statistics.median(removes)),
        ("open for reading (HNSW graph read, the rest memory-mapped)", open_s),
        ("dense query, k=10", dense_s),
        ("lexical (BM25) query, k=10", lex_s),
    ]
    print(f"\n{args.n:,} passages, {DIM}-d; segments: {[(s['kind'], s['rows']) for s in reader.segments()]}")
    print(markdown_table(("operation", "seconds"), [(name, f"{s:.4f}") for name, s in rows]))
    print(f"adds: {[round(x, 3) for x in adds]}  removes: {[round(x, 3) for x in removes]}")
    print(f"speed-up of add vs rebuild: {rebuild / statistics.median(adds):,.0f}x")
    if args.json:
        print(json.dumps({"n": args.n, "rebuild_s": rebuild, "built_now": built_now, "add_s": adds, "remove_s": removes,
                          "open_s": open_s, "dense_s": dense_s, "lexical_s": lex_s}))


if __name__ == "__main__":
    main()
