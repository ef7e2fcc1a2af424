"""Deterministic synthetic passages for the index backend tests (shared with crash_index.py)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from rag.index.backend import Record
from rag.index.local import LocalIndex
from rag.documents.tokens import tokenize

DIM = 16
WORDS = ("harbour ship winter sailor hull spring cat sleep dawn dusk purr river bridge stone tower "
         "garden rain storm lantern market bread baker candle window letter poem song").split()


def text_of(i: int, salt: int = 0) -> str:
    rng = random.Random(i * 7919 + salt)
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14))) + "."


def vec_of(i: int, salt: int = 0) -> np.ndarray:
    v = np.random.default_rng(i * 31 + salt).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def rec(i: int, salt: int = 0) -> Record:
    t = text_of(i, salt)
    return Record(f"doc{i // 3}.txt#{i % 3}", vec_of(i, salt), tokenize(t), {"text": t, "line": i})


def populate(path: Path, hnsw_threshold: int = 10_000) -> dict[str, Record]:
    """Four commits (four segments) with replacements and deletions; returns the live records."""
    live: dict[str, Record] = {}
    with LocalIndex.open(path, writable=True, dim=DIM, hnsw_threshold=hnsw_threshold) as w:
        steps = [(range(0, 60), 0, []), (range(50, 90), 1, ["doc2.txt#0", "doc5.txt#1"]),
                 (range(90, 100), 0, ["doc25.txt#0", "doc0.txt#0"]), (range(10, 20), 2, ["nope#1"])]
        for ids, salt, dels in steps:
            recs = [rec(i, salt) for i in ids]
            w.upsert(recs)
            w.delete(dels)
            live.update((r.key, r) for r in recs)
            for k in dels:
                live.pop(k, None)
            w.commit()
    return live
