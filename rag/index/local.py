"""The local backend: Lucene-style immutable segments, per-version deletion arrays, an atomic switch.

An index folder (its layout: :mod:`rag.index.store`) holds immutable segments
(:mod:`rag.index.segments`) and versions, each a manifest that lists its live segments with their
deletion arrays. A commit writes only the new segment (its pending upserts), the deletion arrays of
segments that lost rows and a manifest, then replaces ``CURRENT``. Garbage collection keeps what the
current and the previous version refer to. A kill at any moment leaves ``CURRENT`` naming a complete
version. Compaction (:mod:`rag.index.merge`) merges small segments beside readers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from rag.index.dense import APPROX_THRESHOLD
from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError
from rag.index.lexical import BM25_B, BM25_K1, bm25_by_segment
from rag.index.store import (DELETES, FORMAT, FORMAT_VERSION, SEGMENTS, TMP_PREFIX, BuildLock, _fsync_dir,
                             collect_garbage, current_version, publish_manifest, read_manifest, sha256_file,
                             unique_token)
from rag.index.backend import IndexReader, IndexWriter, Record
from rag.index.segments import (HINT, LiveSegment, Segment, SegmentData, data_from_tokens, encode_key,
                                write_segment)


def _write_npy_durably(path: Path, arr: np.ndarray) -> dict:
    tmp = path.with_name(TMP_PREFIX + path.name)
    with open(tmp, "wb") as f:
        np.save(f, arr, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return {"size": path.stat().st_size, "sha256": sha256_file(path)}


class LocalIndex(IndexReader, IndexWriter):
    """The local segmented backend (both sides of :mod:`rag.index.backend`). ``open(path)`` reads;
    ``open(path, writable=True)`` writes."""

    def __init__(self, root: Path, manifest: dict | None, lock: BuildLock | None, dim: int | None,
                 hnsw_threshold: int, owns_lock: bool = True, generation: int = 0) -> None:
        self.root = root
        self._manifest = manifest
        self._lock = lock
        self._owns_lock = owns_lock
        self._writer = lock is not None
        self.dim = manifest["dim"] if manifest else dim
        self.hnsw_threshold = hnsw_threshold
        self._version = manifest.get("_name") if manifest else None
        self._generation = manifest["generation"] if manifest else generation
        self._segs = [LiveSegment(root, e) for e in manifest["segments"]] if manifest else []
        self._pending: dict[str, Record] = {}
        self._pending_deletes: set[str] = set()
        self._pending_meta: dict | None = None
        self._staged: tuple[list[dict], int] | None = None  # written by staged(), published by commit()
        self._bases: np.ndarray | None = None

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, location: str | Path, *, writable: bool = False, dim: int | None = None,
             hnsw_threshold: int = APPROX_THRESHOLD, lock_wait: float = 0.0,
             preload: bool | None = None, lock: BuildLock | None = None, fresh: bool = False) -> "LocalIndex":
        """Open the current version. Readers ``preload`` by default (every file mapped or read now,
        so that garbage collection of a later commit cannot pull files from under them); writers
        only read the keys of the segments they touch, lazily.

        A writer whose caller already holds the index's :class:`BuildLock` passes it as ``lock``
        (it is then not released by :meth:`close`). ``fresh`` starts from an empty index whatever
        the current version holds (a rebuild: the first commit replaces everything, atomically).
        """
        root = Path(location)
        owns = lock is None
        if writable and lock is None:
            lock = BuildLock(root, wait=lock_wait).__enter__()
        if not writable:
            lock, owns = None, False
        try:
            generation = 0
            if fresh:
                if not writable:
                    raise ValueError("fresh=True needs writable=True")
                try:
                    old = cls._read_current(root)
                    generation = old["generation"] if old else 0
                except (IndexCorruptError, IndexMismatchError):
                    pass
                manifest = None
            else:
                manifest = cls._read_current(root)
            if manifest is None and not writable:
                raise IndexMissingError(f"no index at {root}: run `rag index` to build it")
            if manifest is None and dim is None:
                raise ValueError("a new index needs the vector dimension (dim=...)")
            if manifest is not None and dim is not None and dim != manifest["dim"]:
                raise IndexMismatchError(f"index at {root} holds {manifest['dim']}-d vectors, not {dim}-d; {HINT}")
            index = cls(root, manifest, lock, dim, hnsw_threshold, owns_lock=owns, generation=generation)
            if preload if preload is not None else not writable:
                for s in index._segs:
                    s.segment.preload()
            return index
        except BaseException:
            if lock is not None and owns:
                lock.__exit__(None, None, None)
            raise

    @staticmethod
    def _read_current(root: Path) -> dict | None:
        version = current_version(root)
        if version is None:
            return None
        manifest = read_manifest(version)
        manifest["_name"] = version.name
        return manifest

    @property
    def version(self) -> str | None:
        return self._version

    def close(self) -> None:
        for s in self._segs:
            s.segment.close()
        if self._lock is not None and self._owns_lock:
            self._lock.__exit__(None, None, None)
            self._lock = None

    def __enter__(self) -> "LocalIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def verify(self) -> int:
        """Full check: every file of the open version against its recorded sha256; returns how many."""
        n = 0
        for s in self._segs:
            s.segment.verify()
            n += len(s.entry["files"])
            d = s.entry.get("deletes")
            if d:
                n += 1
                if sha256_file(self.root / d["path"]) != d["sha256"]:
                    raise IndexCorruptError(f"deletion array {d['path']} does not match its checksum; {HINT}")
        return n

    @property
    def meta(self) -> dict:
        """The caller's metadata recorded with the open version (model, files, ...; {} if none)."""
        return dict(self._manifest.get("meta") or {}) if self._manifest else {}

    def set_meta(self, meta: dict) -> None:
        """Metadata for the next commit to record (JSON-able); without it, a commit carries the current one over."""
        self._writable()
        self._pending_meta = meta

    # -- writing ---------------------------------------------------------------------------------
    def _writable(self) -> None:
        if not self._writer:
            raise ValueError("this index was opened for reading; open it with writable=True to change it")

    def upsert(self, records: Iterable[Record]) -> None:
        self._writable()
        for r in records:
            encode_key(r.key)
            v = np.asarray(r.vector, dtype=np.float32).reshape(-1)
            if v.shape[0] != self.dim:
                raise ValueError(f"vector of {r.key!r} has dimension {v.shape[0]}, the index {self.dim}")
            self._pending_deletes.discard(r.key)
            self._pending[r.key] = r
            self._staged = None

    def delete(self, keys: Iterable[str]) -> None:
        self._writable()
        for k in keys:
            self._pending.pop(k, None)
            self._pending_deletes.add(k)
            self._staged = None

    def staged(self) -> "LocalIndex":
        """A read-only view of the version the next :meth:`commit` will publish (pending changes applied).

        Its new segment and deletion arrays are written now (unpublished: a crash leaves ``CURRENT``
        as it was, and garbage collection removes them); ``commit`` then publishes exactly them,
        with the metadata set meanwhile. Close the view when done. A later change discards it."""
        self._writable()
        if self._staged is None:
            self._staged = self._write_pending()
        entries, generation = self._staged
        manifest = {"dim": self.dim, "generation": generation, "segments": entries,
                    "meta": self._pending_meta if self._pending_meta is not None else self.meta}
        return LocalIndex(self.root, manifest, None, self.dim, self.hnsw_threshold, owns_lock=False)

    def commit(self) -> str:
        """Write the pending changes as a new version and switch to it; returns its name."""
        self._writable()
        entries, generation = self._staged if self._staged is not None else self._write_pending()
        name = self._publish(entries, generation, self._pending_meta)
        self._pending.clear()
        self._pending_deletes.clear()
        self._pending_meta = None
        self._staged = None
        return name

    def _write_pending(self) -> tuple[list[dict], int]:
        """Write the pending changes' segment and deletion arrays (not published); returns the
        entries of the version they make and its generation."""
        segments_dir = self.root / SEGMENTS
        segments_dir.mkdir(exist_ok=True)
        (self.root / DELETES).mkdir(exist_ok=True)
        generation = self._generation + 1
        # rows that the changes remove from existing segments
        gone = [encode_key(k) for k in (*self._pending, *self._pending_deletes)]
        new_deletes = {}
        for i, s in enumerate(self._segs):
            rows = s.segment.locate(gone)
            rows = rows[rows >= 0]
            if len(rows):
                rows = rows[~s.mask[rows]]
            if len(rows):
                new_deletes[i] = rows
        entries = self._carry_over(new_deletes, generation)
        if self._pending:
            recs = list(self._pending.values())
            data = data_from_tokens([encode_key(r.key) for r in recs], _stacked([r.vector for r in recs]),
                                    [r.tokens for r in recs],
                                    [json.dumps(r.payload, ensure_ascii=False).encode("utf-8") for r in recs])
            entries.append(self._write_new_segment(data))
        return entries, generation

    def _carry_over(self, new_deletes: dict[int, np.ndarray], generation: int) -> list[dict]:
        entries = []
        for i, s in enumerate(self._segs):
            e = {k: v for k, v in s.entry.items()}
            if i in new_deletes:
                deleted = np.union1d(s.deleted, new_deletes[i]).astype(np.int32)
                if len(deleted) == s.segment.rows:
                    continue  # nothing live left: the version no longer lists the segment
                e["deletes"] = self._write_deletes(s.segment, deleted, generation)
            entries.append(e)
        return entries

    def _write_deletes(self, segment: Segment, deleted: np.ndarray, generation: int) -> dict:
        rel = f"{DELETES}/{segment.id}.g{generation}.npy"
        meta = _write_npy_durably(self.root / rel, deleted)
        return {"path": rel, "count": int(len(deleted)),
                "deleted_len": int(np.asarray(segment.doclen)[deleted].sum()), **meta}

    def _write_new_segment(self, data: SegmentData) -> dict:
        seg_id = f"s-{unique_token()}"
        tmp = self.root / SEGMENTS / f"{TMP_PREFIX}{seg_id}"
        entry = write_segment(tmp, data, self.hnsw_threshold)
        os.rename(tmp, self.root / SEGMENTS / seg_id)
        _fsync_dir(self.root / SEGMENTS)
        return {"id": seg_id, **entry}

    def _publish(self, entries: list[dict], generation: int, meta: dict | None = None) -> str:
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "dim": self.dim, "generation": generation,
                    "live": sum(e["rows"] - (e["deletes"]["count"] if e.get("deletes") else 0) for e in entries),
                    "segments": entries,
                    "meta": meta if meta is not None else (self._manifest or {}).get("meta", {})}
        _fsync_dir(self.root / DELETES)
        name = publish_manifest(self.root, manifest)
        known = {name: manifest}
        if self._manifest is not None and self._version:
            known[self._version] = self._manifest
        collect_garbage(self.root, known)
        # the writer continues from the version it just wrote
        for s in self._segs:
            s.segment.close()
        manifest["_name"] = name
        self._manifest = manifest
        self._version = name
        self._generation = generation
        self._segs = [LiveSegment(self.root, e) for e in entries]
        self._bases = None
        return name

    # -- reading ---------------------------------------------------------------------------------
    def count(self) -> int:
        return sum(s.live for s in self._segs)

    def segments(self) -> list[dict]:
        """Per live segment: id, kind, rows, deleted rows (for status and the merge policy)."""
        return [{"id": s.segment.id, "kind": s.segment.kind, "rows": s.segment.rows, "deleted": len(s.deleted)}
                for s in self._segs]

    def _find(self, key: str) -> tuple[LiveSegment, int] | None:
        k = encode_key(key)
        for s in self._segs:
            row = int(s.segment.locate([k])[0])
            if row >= 0 and not s.mask[row]:
                return s, row
        return None

    def doc_freq(self, term: str) -> int:
        """How many live passages hold ``term``."""
        df = 0
        for s in self._segs:
            rows, _ = s.segment.postings(term)
            df += int(np.count_nonzero(~s.mask[rows])) if len(rows) and len(s.deleted) else len(rows)
        return df

    # -- positions: the live passages numbered 0..count()-1 in segment order (one open version) ---
    def _live_bases(self) -> np.ndarray:
        if self._bases is None:
            self._bases = np.concatenate([[0], np.cumsum([s.live for s in self._segs])]).astype(np.int64)
        return self._bases

    def _positions(self, si: int, rows: np.ndarray) -> np.ndarray:
        s = self._segs[si]
        rows = np.asarray(rows, dtype=np.int64)
        return self._live_bases()[si] + rows - (np.searchsorted(s.deleted, rows) if len(s.deleted) else 0)

    def _row_of(self, pos: int) -> tuple[LiveSegment, int]:
        bases = self._live_bases()
        if not 0 <= pos < bases[-1]:
            raise IndexError(pos)
        si = int(np.searchsorted(bases, pos, side="right")) - 1
        s, k = self._segs[si], int(pos - bases[si])
        if not len(s.deleted):
            return s, k
        live = s.__dict__.get("_live_rows")
        if live is None:
            live = s.__dict__["_live_rows"] = np.flatnonzero(~s.mask)
        return s, int(live[k])

    def payload_at(self, pos: int) -> dict:
        s, row = self._row_of(pos)
        return s.segment.payload(row)

    def vector_at(self, pos: int) -> np.ndarray:
        s, row = self._row_of(pos)
        return np.asarray(s.segment.vectors[row])

    def live_vectors(self) -> np.ndarray:
        """Every live vector in position order (reads them all: for tests and tools)."""
        parts = [np.asarray(s.segment.vectors)[~s.mask] for s in self._segs]
        return np.concatenate(parts) if parts else np.empty((0, self.dim or 0), np.float32)

    def dense_positions(self, query_vectors: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, positions)`` of shape (queries, n), best first; position -1 where there is none."""
        q = np.ascontiguousarray(np.atleast_2d(query_vectors), dtype=np.float32)
        sc_parts, pos_parts = [], []
        for si, s in enumerate(self._segs):
            scores, rows = s.segment.search_dense(q, n, s.deleted)
            rows = np.asarray(rows, dtype=np.int64)
            pos = np.where(rows >= 0, self._positions(si, np.maximum(rows, 0)), -1)
            sc_parts.append(np.where(rows >= 0, scores, -np.inf).astype(np.float32))
            pos_parts.append(pos)
        if not sc_parts:
            return np.empty((len(q), 0), np.float32), np.empty((len(q), 0), np.int64)
        sc, pos = np.concatenate(sc_parts, axis=1), np.concatenate(pos_parts, axis=1)
        order = np.lexsort((pos, -sc), axis=1)[:, :n] if sc.shape[1] else np.empty((len(q), 0), np.int64)
        sc, pos = np.take_along_axis(sc, order, axis=1), np.take_along_axis(pos, order, axis=1)
        pos[~np.isfinite(sc)] = -1
        return sc, pos

    def lexical_positions(self, query_tokens: Sequence[str], extra: Mapping[str, float] | None = None, *,
                          k1: float = BM25_K1, b: float = BM25_B) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, scores)`` of every live passage with a positive BM25 score (unordered; exact:
        :func:`rag.index.lexical.bm25_by_segment`); ``extra`` adds weighted terms (term -> weight; each
        of ``query_tokens`` weighs 1). ``k1`` and ``b``: a benchmark's grid (bench/tune_fusion.py)."""
        ids, scores = [], []
        for si, (uniq, sc) in bm25_by_segment(self._segs, query_tokens, k1, b, extra):
            keep = sc > 0
            ids.append(self._positions(si, uniq[keep]))
            scores.append(sc[keep])
        if not ids:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        return np.concatenate(ids), np.concatenate(scores)

    # -- keys by source ---------------------------------------------------------------------------
    def keys_with_prefix(self, prefix: str) -> list[str]:
        """The live keys that start with ``prefix`` (a bisection in each segment's sorted keys)."""
        p = prefix.encode("utf-8")
        return [key.decode("utf-8") for s in self._segs for row, key in s.segment.keys_with_prefix(p)
                if not s.mask[row]]

    def vectors_of(self, keys: Sequence[str]) -> list[np.ndarray | None]:
        """The stored vector of each key in the open version (None for an unknown key)."""
        out = []
        for key in keys:
            found = self._find(key)
            out.append(np.asarray(found[0].segment.vectors[found[1]]) if found else None)
        return out


def _stacked(rows: list) -> np.ndarray:
    """``rows`` (vectors) as one float32 array: the array they are the rows of, in order, when they are
    (a build's upserts are rows of its vectors: no second copy of them, 154 MB at 100,000 passages),
    else a new one."""
    base = getattr(rows[0], "base", None) if rows else None
    if (isinstance(base, np.ndarray) and base.ndim == 2 and base.dtype == np.float32 and base.flags.c_contiguous
            and len(base) == len(rows)):
        start, step = base.ctypes.data, base.strides[0]
        if all(isinstance(r, np.ndarray) and r.base is base and r.ndim == 1 and r.ctypes.data == start + i * step
               for i, r in enumerate(rows)):
            return base
    return np.stack([np.asarray(r, dtype=np.float32).reshape(-1) for r in rows])
