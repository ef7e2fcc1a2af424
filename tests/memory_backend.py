"""A second index backend, in memory, for the contract suite (tests/test_index_backend.py): the
protocols of rag.index.backend implemented by brute force, so that the seam is proven, not declared.

A :class:`MemoryStore` is what an index folder is to rag.index.local: its committed versions, newest
last, and the single writer's lock. A version is a tuple of records in position order: a commit
keeps the live records it builds on in their order (less the deleted and the replaced ones) and
appends the upserted ones in the order they were first upserted. Dense search is numpy's exact
inner product; BM25 is counted from each record's terms with rag.index.lexical.term_weights.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from rag.errors import IndexCorruptError, IndexLockedError, IndexMissingError
from rag.index.backend import IndexReader, IndexWriter, Record
from rag.index.lexical import term_weights


class _Row(NamedTuple):
    key: str
    vector: np.ndarray  # float32
    tokens: tuple[str, ...]
    payload: str  # JSON


class _Version(NamedTuple):
    name: str | None
    dim: int
    records: tuple[_Row, ...]  # the live passages in position order
    meta: str  # JSON


class MemoryStore:
    """The committed versions of one in-memory index, and whether a writer holds it."""

    def __init__(self) -> None:
        self.versions: list[_Version] = []
        self.locked = False


class MemoryIndex(IndexReader, IndexWriter):
    """``open(store)`` reads the newest version; ``open(store, writable=True)`` writes."""

    def __init__(self, store: MemoryStore, version: _Version, writable: bool) -> None:
        self._store = store
        self._v = version
        self._writer = writable
        self.dim = version.dim
        self._pending: dict[str, _Row] = {}
        self._pending_deletes: set[str] = set()
        self._pending_meta: str | None = None
        self._load(version)

    @classmethod
    def open(cls, store: MemoryStore, *, writable: bool = False, dim: int | None = None) -> "MemoryIndex":
        current = store.versions[-1] if store.versions else None
        if current is None and not writable:
            raise IndexMissingError("no index in this memory store")
        if current is None and dim is None:
            raise ValueError("a new index needs the vector dimension (dim=...)")
        if current is not None and dim is not None and dim != current.dim:
            raise ValueError(f"the index holds {current.dim}-d vectors, not {dim}-d")
        if writable:
            if store.locked:
                raise IndexLockedError("another writer holds this memory index")
            store.locked = True
        return cls(store, current or _Version(None, int(dim), (), "{}"), writable)

    def _load(self, v: _Version) -> None:
        self._records = v.records
        self._vectors = (np.stack([r.vector for r in v.records]) if v.records
                         else np.empty((0, v.dim), np.float32))
        self._tf = [Counter(r.tokens) for r in v.records]
        self._len = np.array([len(r.tokens) for r in v.records], dtype=np.float64)
        self._by_key = {r.key: i for i, r in enumerate(v.records)}

    # -- both sides -------------------------------------------------------------------------------
    @property
    def meta(self) -> dict:
        return json.loads(self._v.meta)

    def count(self) -> int:
        return len(self._records)

    def segments(self) -> list[dict]:
        return [{"id": "memory", "kind": "flat", "rows": self.count(), "deleted": 0}] if self._records else []

    def close(self) -> None:
        if self._writer and self._store.locked:
            self._store.locked = False
        self._writer = False

    def __enter__(self) -> "MemoryIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------------------
    @property
    def version(self) -> str | None:
        return self._v.name

    def dense_positions(self, query_vectors: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.atleast_2d(np.asarray(query_vectors, dtype=np.float32))
        m = max(min(n, self.count()), 0)
        scores = q @ self._vectors.T
        order = np.argsort(-scores, axis=1, kind="stable")[:, :m]  # ties by position
        return np.take_along_axis(scores, order, axis=1).astype(np.float32), order.astype(np.int64)

    def lexical_positions(self, query_tokens: Sequence[str],
                          extra: Mapping[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        weights: dict[str, float] = {}
        for t in query_tokens:
            if t:
                weights[t] = weights.get(t, 0) + 1
        for t, w in (extra or {}).items():
            if t and w > 0:
                weights[t] = weights.get(t, 0) + float(w)
        n = self.count()
        scores = np.zeros(n)
        if n:
            avgdl = float(self._len.sum()) / n
            for t, w in weights.items():
                rows = [i for i, tf in enumerate(self._tf) if tf[t]]
                if rows:
                    idf = math.log(1 + (n - len(rows) + 0.5) / (len(rows) + 0.5))
                    tf = np.array([self._tf[i][t] for i in rows])
                    scores[rows] += w * term_weights(tf, self._len[rows], avgdl, idf)
        keep = np.flatnonzero(scores > 0)
        return keep.astype(np.int64), scores[keep]

    def doc_freq(self, term: str) -> int:
        return sum(1 for tf in self._tf if tf[term])

    def _at(self, pos: int) -> _Row:
        if not 0 <= pos < self.count():
            raise IndexError(pos)
        return self._records[pos]

    def payload_at(self, pos: int) -> dict:
        return json.loads(self._at(pos).payload)

    def vector_at(self, pos: int) -> np.ndarray:
        return self._at(pos).vector.copy()

    def live_vectors(self) -> np.ndarray:
        return self._vectors.copy()

    def verify(self) -> int:
        for r in self._records:
            if r.vector.shape != (self.dim,) or not np.all(np.isfinite(r.vector)):
                raise IndexCorruptError(f"the vector of {r.key!r} is damaged")
            json.loads(r.payload)
        return self.count()

    # -- writing ----------------------------------------------------------------------------------
    def _writable(self) -> None:
        if not self._writer:
            raise ValueError("this index was opened for reading; open it with writable=True to change it")

    def keys_with_prefix(self, prefix: str) -> list[str]:
        return [r.key for r in self._records if r.key.startswith(prefix)]

    def vectors_of(self, keys: Sequence[str]) -> list[np.ndarray | None]:
        return [self._records[self._by_key[k]].vector.copy() if k in self._by_key else None for k in keys]

    def upsert(self, records: Iterable[Record]) -> None:
        self._writable()
        for r in records:
            if not r.key or "\x00" in r.key:
                raise ValueError(f"a passage key must be a non-empty string without NUL characters, not {r.key!r}")
            v = np.array(r.vector, dtype=np.float32).reshape(-1)
            if v.shape[0] != self.dim:
                raise ValueError(f"vector of {r.key!r} has dimension {v.shape[0]}, the index {self.dim}")
            self._pending_deletes.discard(r.key)
            # a key upserted again keeps the place of its first upsert (dict order)
            self._pending[r.key] = _Row(r.key, v, tuple(r.tokens), json.dumps(r.payload))

    def delete(self, keys: Iterable[str]) -> None:
        self._writable()
        for k in keys:
            self._pending.pop(k, None)
            self._pending_deletes.add(k)

    def set_meta(self, meta: dict) -> None:
        self._writable()
        self._pending_meta = json.dumps(meta)

    def _next(self, name: str | None) -> _Version:
        gone = self._pending.keys() | self._pending_deletes
        records = tuple(r for r in self._records if r.key not in gone) + tuple(self._pending.values())
        return _Version(name, self.dim, records,
                        self._pending_meta if self._pending_meta is not None else self._v.meta)

    def staged(self) -> "MemoryIndex":
        self._writable()
        return MemoryIndex(self._store, self._next(None), writable=False)

    def commit(self) -> str:
        self._writable()
        v = self._next(f"m-{len(self._store.versions) + 1}")
        self._store.versions.append(v)
        self._v = v
        self._load(v)
        self._pending.clear()
        self._pending_deletes.clear()
        self._pending_meta = None
        return v.name
