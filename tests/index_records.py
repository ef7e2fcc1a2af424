"""Deterministic synthetic passages for the index backend tests (shared with crash_index.py), and
the readers' results by passage key (each payload holds its key)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from rag.index.backend import IndexReader, IndexWriter, Record
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
    key = f"doc{i // 3}.txt#{i % 3}"
    return Record(key, vec_of(i, salt), tokenize(t), {"text": t, "line": i, "key": key})


def fill(w: IndexWriter) -> dict[str, Record]:
    """Four commits (four segments of a local index) with replacements and deletions; returns the
    live records."""
    live: dict[str, Record] = {}
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


def populate(path: Path, hnsw_threshold: int = 10_000) -> dict[str, Record]:
    """:func:`fill` into a new local index at ``path``."""
    with LocalIndex.open(path, writable=True, dim=DIM, hnsw_threshold=hnsw_threshold) as w:
        return fill(w)


def lexical_keys(r: IndexReader, terms: list[str], n: int | None = None) -> list[tuple[str, float]]:
    """The ``n`` best ``(key, BM25 score)``, best first (ties by position, as the retriever ranks)."""
    pos, sc = r.lexical_positions(terms)
    order = np.lexsort((pos, -sc))[:n]
    return [(r.payload_at(int(pos[i]))["key"], float(sc[i])) for i in order]


def dense_keys(r: IndexReader, queries: np.ndarray, n: int) -> list[list[tuple[str, float]]]:
    """Per query, the ``n`` nearest ``(key, inner product)``, best first."""
    scores, positions = r.dense_positions(np.atleast_2d(queries), n)
    return [[(r.payload_at(int(p))["key"], float(s)) for s, p in zip(sc, pos) if p >= 0]
            for sc, pos in zip(scores, positions)]


def payloads_by_key(r: IndexReader) -> dict[str, dict]:
    """Every live passage's payload, by key."""
    return {p["key"]: p for p in (r.payload_at(i) for i in range(r.count()))}
