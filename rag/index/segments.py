"""Immutable segments: the passages written by one commit (or one merge), never changed afterwards.

A segment folder ``segments/<id>/`` holds, for its ``rows`` passages (rows 0..rows-1):

    meta.json           rows, dim, kind ("flat" or "hnsw"), total document length, vocabulary size
    keys.npy            the passage keys in row order (fixed-width UTF-8 bytes)
    keys_sorted.npy     the keys sorted, and keys_order.npy the row of each (key -> row by bisection)
    payloads.jsonl      one JSON object per row; payload_offsets.npy (rows+1 byte offsets) to seek
    vectors.npy         float32 rows x dim, L2-normalized (memory-mapped when read)
    dense.faiss         HNSW graph over the vectors (only for "hnsw" segments; "flat" ones are
                        searched exactly with numpy over the memory-mapped vectors)
    terms.json          the segment's vocabulary: a list of stemmed terms (column t = terms[t])
    post_ptr.npy        BM25 postings, CSC-like: column t's rows are post_rows[ptr[t]:ptr[t+1]]
    post_rows.npy       ... and their term frequencies post_tf.npy
    doclen.npy          number of terms of each row

Everything is plain ``.npy`` (``allow_pickle=False``) or JSON. The size and sha256 of each file are
computed once, when the segment is written, and carried by every manifest that lists the segment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.index.dense import APPROX_THRESHOLD, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M
from rag.errors import IndexCorruptError
from rag.index.store import SEGMENTS, _fsync_dir, sha256_file

HINT = "run `rag index --rebuild`"
META = "meta.json"


def _faiss():
    import faiss  # heavy (40-120 ms): only for an HNSW segment (flat ones are searched with numpy)

    return faiss


def _numpy_flat_search(vectors: np.ndarray, queries: np.ndarray, n: int,
                       deleted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top ``n`` of each query over ``vectors`` without the ``deleted`` rows,
    best first, ties by row.

    Every flat segment (under :data:`rag.index.dense.APPROX_THRESHOLD` rows) is searched this way,
    straight from its memory-mapped vectors: one question over 20,000 rows takes 1-3 ms, where
    importing FAISS and filling an IndexFlatIP cost a cold `rag ask` about 60 ms (and a copy of the
    vectors in memory). The top ``n`` is partitioned out, then sorted: a build's 300 calibration
    questions over 50,000 rows stay cheap (64 at a time: a bounded score matrix)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    queries = np.asarray(queries, dtype=np.float32)
    if len(queries) > 64:
        parts = [_numpy_flat_search(vectors, queries[i : i + 64], n, deleted) for i in range(0, len(queries), 64)]
        return np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts])
    scores = queries @ vectors.T
    if len(deleted):
        scores[:, np.asarray(deleted, dtype=np.int64)] = -np.inf
    total = scores.shape[1]
    if n < total:
        # the n-th best score of each question: rows above it, then rows equal to it in row order
        kth = -np.partition(-scores, n - 1, axis=1)[:, n - 1 : n]
        rows = np.empty((len(scores), n), dtype=np.int64)
        for i, (row, cut) in enumerate(zip(scores, kth[:, 0])):
            above = np.flatnonzero(row > cut)
            rows[i] = np.concatenate([above, np.flatnonzero(row == cut)[: n - len(above)]])
    else:
        rows = np.broadcast_to(np.arange(total, dtype=np.int64), scores.shape).copy()
    picked = np.take_along_axis(scores, rows, axis=1)
    order = np.lexsort((rows, -picked), axis=1)
    rows = np.take_along_axis(rows, order, axis=1)
    return np.take_along_axis(scores, rows, axis=1), rows


@dataclass
class SegmentData:
    """The columns of a segment to write (postings already as triples)."""

    keys: list[bytes]
    vectors: np.ndarray          # float32 rows x dim
    payload_lines: list[bytes]   # one JSON object per row, no newline
    terms: list[str]             # vocabulary; term ids index it
    post_terms: np.ndarray       # int64, one entry per (term, row) pair
    post_rows: np.ndarray        # int64
    post_tf: np.ndarray          # int64
    doclen: np.ndarray           # int64 per row


def encode_key(key: str) -> bytes:
    b = key.encode("utf-8")
    if not b or b"\x00" in b:
        raise ValueError(f"a passage key must be a non-empty string without NUL characters, not {key!r}")
    return b


def data_from_tokens(keys: list[bytes], vectors: np.ndarray, tokens: Sequence[Sequence[str]],
                     payload_lines: list[bytes]) -> SegmentData:
    """Count term frequencies of tokenized passages into postings triples."""
    vocab: dict[str, int] = {}
    lens = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    setdefault = vocab.setdefault
    ids = np.fromiter((setdefault(t, len(vocab)) for doc in tokens for t in doc), dtype=np.int64,
                      count=int(lens.sum()))
    rows = np.repeat(np.arange(len(tokens), dtype=np.int64), lens)
    n = max(len(tokens), 1)
    pairs, tf = np.unique(ids * n + rows, return_counts=True)
    return SegmentData(keys, vectors, payload_lines, list(vocab), pairs // n, pairs % n, tf.astype(np.int64), lens)


def _save(folder: Path, name: str, arr: np.ndarray) -> None:
    with open(folder / name, "wb") as f:
        np.save(f, arr, allow_pickle=False)


def write_segment(folder: Path, data: SegmentData, hnsw_threshold: int = APPROX_THRESHOLD) -> dict:
    """Write ``data`` into the new folder ``folder`` and fsync it; returns its manifest entry (sans id)."""
    folder.mkdir(parents=True)
    n = len(data.keys)
    vectors = np.ascontiguousarray(data.vectors, dtype=np.float32).reshape(n, -1)
    dim = int(vectors.shape[1])
    kind = "hnsw" if n >= hnsw_threshold else "flat"
    keys = np.array(data.keys, dtype=f"S{max([len(k) for k in data.keys], default=1)}")
    order = np.argsort(keys, kind="stable")
    if n > 1 and np.any(keys[order][1:] == keys[order][:-1]):
        raise ValueError("a segment cannot hold the same key twice")
    _save(folder, "keys.npy", keys)
    _save(folder, "keys_sorted.npy", keys[order])
    _save(folder, "keys_order.npy", order.astype(np.int32))
    offsets = np.zeros(n + 1, dtype=np.int64)
    with open(folder / "payloads.jsonl", "wb") as f:
        for i, line in enumerate(data.payload_lines):
            f.write(line)
            f.write(b"\n")
            offsets[i + 1] = offsets[i] + len(line) + 1
    _save(folder, "payload_offsets.npy", offsets)
    _save(folder, "vectors.npy", vectors)
    if kind == "hnsw":
        faiss = _faiss()
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.add(vectors)
        faiss.write_index(index, str(folder / "dense.faiss"))
        del index
    order = np.lexsort((data.post_rows, data.post_terms))
    terms_sorted = data.post_terms[order]
    ptr = np.searchsorted(terms_sorted, np.arange(len(data.terms) + 1)).astype(np.int64)
    _save(folder, "post_ptr.npy", ptr)
    _save(folder, "post_rows.npy", data.post_rows[order].astype(np.int32))
    _save(folder, "post_tf.npy", data.post_tf[order].astype(np.int32))
    _save(folder, "doclen.npy", data.doclen.astype(np.int32))
    (folder / "terms.json").write_text(json.dumps(data.terms, ensure_ascii=False), encoding="utf-8")
    meta = {"rows": n, "dim": dim, "kind": kind, "doclen_total": int(data.doclen.sum()), "terms": len(data.terms)}
    (folder / META).write_text(json.dumps(meta), encoding="utf-8")
    files = {}
    for p in sorted(folder.iterdir()):
        with open(p, "rb") as f:
            os.fsync(f.fileno())
        files[p.name] = {"size": p.stat().st_size, "sha256": sha256_file(p)}
    _fsync_dir(folder)
    return {**meta, "files": files}


class Segment:
    """A segment opened for reading; files are opened lazily, vectors and keys memory-mapped."""

    def __init__(self, folder: Path, entry: dict) -> None:
        self.folder = folder
        self.id = entry["id"]
        self.rows = int(entry["rows"])
        self.kind = entry["kind"]
        self.doclen_total = int(entry["doclen_total"])
        self._files = entry["files"]
        for name, meta in self._files.items():  # cheap check: every file present, of the right size
            try:
                size = (folder / name).stat().st_size
            except FileNotFoundError:
                raise IndexCorruptError(f"index file {name} is missing from {folder}; {HINT}") from None
            if size != meta["size"]:
                raise IndexCorruptError(f"index file {folder / name} has {size} bytes, expected {meta['size']}; {HINT}")

    def preload(self) -> None:
        """Open every file now (memory maps and handles; the HNSW graph is read), so that the segment
        keeps answering after a later commit's garbage collection removes its folder."""
        _ = self.keys, self._sorted, self.vectors, self.postings_arrays, self._offsets, self._payload_file
        if self.kind == "hnsw":
            _ = self.faiss_index

    def verify(self) -> None:
        for name, meta in self._files.items():
            if sha256_file(self.folder / name) != meta["sha256"]:
                raise IndexCorruptError(f"index file {self.folder / name} does not match its checksum; {HINT}")

    def _load(self, name: str, mmap: bool = True) -> np.ndarray:
        try:
            return np.load(self.folder / name, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"index file {self.folder / name} is damaged ({exc}); {HINT}") from None

    @cached_property
    def keys(self) -> np.ndarray:
        return self._load("keys.npy")

    @cached_property
    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        return self._load("keys_sorted.npy"), self._load("keys_order.npy")

    def keys_with_prefix(self, prefix: bytes) -> list[tuple[int, bytes]]:
        """``(row, key)`` of every key that starts with ``prefix``, in key order (a bisection)."""
        srt, order = self._sorted
        if not len(srt) or len(prefix) > srt.dtype.itemsize:
            return []
        lo = int(np.searchsorted(srt, np.array(prefix, dtype=srt.dtype)))
        hi = lo
        while hi < len(srt) and bytes(srt[hi]).startswith(prefix):
            hi += 1
        return [(int(order[j]), bytes(srt[j])) for j in range(lo, hi)]

    def locate(self, keys: Sequence[bytes]) -> np.ndarray:
        """The row of each key (-1 where the segment does not hold it)."""
        srt, order = self._sorted
        out = np.full(len(keys), -1, dtype=np.int64)
        if not len(keys) or not self.rows:
            return out
        width = srt.dtype.itemsize
        fit = [i for i, k in enumerate(keys) if len(k) <= width]
        if not fit:
            return out
        q = np.array([keys[i] for i in fit], dtype=srt.dtype)
        pos = np.minimum(np.searchsorted(srt, q), self.rows - 1)
        hit = srt[pos] == q
        idx = np.array(fit)[hit]
        out[idx] = order[pos[hit]]
        return out

    @cached_property
    def vectors(self) -> np.ndarray:
        return self._load("vectors.npy")

    @cached_property
    def faiss_index(self):
        faiss = _faiss()
        path = self.folder / "dense.faiss"
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise IndexCorruptError(f"FAISS index {path} is damaged; {HINT}") from exc
        if int(index.ntotal) != self.rows:
            raise IndexCorruptError(f"FAISS index {path} holds {index.ntotal} vectors, expected {self.rows}; {HINT}")
        index.hnsw.efSearch = HNSW_EF_SEARCH
        return index

    def search_dense(self, queries: np.ndarray, n: int, deleted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, rows)`` of shape (queries, n') over the live rows; rows -1 mean none."""
        live = self.rows - len(deleted)
        n = min(n, live)
        if n <= 0:
            return np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64)
        if self.kind == "flat":
            return _numpy_flat_search(self.vectors, queries, n, deleted)
        faiss = _faiss()
        index = self.faiss_index
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if not len(deleted):
            return index.search(queries, n)
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(HNSW_EF_SEARCH, n)
        batch = faiss.IDSelectorBatch(np.ascontiguousarray(deleted, dtype=np.int64))
        params.sel = faiss.IDSelectorNot(batch)
        scores, rows = index.search(queries, n, params=params)
        del batch
        return scores, rows

    @cached_property
    def vocab(self) -> dict[str, int]:
        try:
            terms = json.loads((self.folder / "terms.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"index file {self.folder / 'terms.json'} is damaged ({exc}); {HINT}") from None
        return {t: i for i, t in enumerate(terms)}

    @cached_property
    def postings_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        ptr, rows, tf, doclen = (self._load(n) for n in ("post_ptr.npy", "post_rows.npy", "post_tf.npy", "doclen.npy"))
        if len(ptr) != len(self.vocab) + 1 or len(doclen) != self.rows or rows.shape != tf.shape \
                or (len(ptr) and int(ptr[-1]) != len(rows)):
            raise IndexCorruptError(f"BM25 postings in {self.folder} are inconsistent; {HINT}")
        return ptr, rows, tf, doclen

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows holding ``term`` and its frequency in each (empty arrays when absent)."""
        t = self.vocab.get(term)
        ptr, rows, tf, _ = self.postings_arrays
        if t is None:
            return rows[:0], tf[:0]
        a, b = int(ptr[t]), int(ptr[t + 1])
        return rows[a:b], tf[a:b]

    @cached_property
    def doclen(self) -> np.ndarray:
        return self.postings_arrays[3]

    @cached_property
    def _payload_file(self):
        return open(self.folder / "payloads.jsonl", "rb")

    @cached_property
    def _offsets(self) -> np.ndarray:
        return self._load("payload_offsets.npy")

    def payload_line(self, row: int) -> bytes:
        a, b = int(self._offsets[row]), int(self._offsets[row + 1])
        line = os.pread(self._payload_file.fileno(), b - a, a)
        return line.rstrip(b"\n")

    def payload(self, row: int) -> dict:
        try:
            return json.loads(self.payload_line(row))
        except ValueError as exc:
            raise IndexCorruptError(f"payload {row} in {self.folder} is damaged ({exc}); {HINT}") from None

    def close(self) -> None:
        if "_payload_file" in self.__dict__:
            self._payload_file.close()


class LiveSegment:
    """A segment as a version lists it: the segment and its deleted rows (read from the version's
    deletion array, checked against the size and count the manifest records)."""

    def __init__(self, root: Path, entry: dict) -> None:
        self.entry = entry
        self.segment = Segment(root / SEGMENTS / entry["id"], entry)
        d = entry.get("deletes")
        if d:
            path = root / d["path"]
            try:
                if path.stat().st_size != d["size"]:
                    raise IndexCorruptError(f"deletion array {path} has the wrong size; {HINT}")
                self.deleted = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise IndexCorruptError(f"deletion array {path} is unreadable ({exc}); {HINT}") from None
            if len(self.deleted) != d["count"]:
                raise IndexCorruptError(f"deletion array {path} is inconsistent; {HINT}")
        else:
            self.deleted = np.empty(0, dtype=np.int32)
        self.live = self.segment.rows - len(self.deleted)
        self.live_len = self.segment.doclen_total - (d["deleted_len"] if d else 0)
        self._mask: np.ndarray | None = None

    @property
    def mask(self) -> np.ndarray:
        """True for deleted rows."""
        if self._mask is None:
            m = np.zeros(self.segment.rows, dtype=bool)
            m[self.deleted] = True
            self._mask = m
        return self._mask
