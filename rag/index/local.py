"""The local backend: Lucene-style immutable segments, per-version deletion arrays, an atomic switch.

Layout of an index folder::

    CURRENT                   the name of the complete version readers use (replaced atomically)
    .previous                 the version before it (kept for readers that opened it a moment ago)
    v-<time>-<id>/manifest.json
                              a version: its live segments, each with its deletion array and counts,
                              the sizes and checksums of every file (carried over, never recomputed),
                              and "meta": the writer's record (for rag: model identity, seeds root,
                              per-file stamps and hashes, skipped files), carried over by commits
                              and compactions that do not set it
    segments/<seg-id>/        immutable segments (see :mod:`rag.index.segments`)
    deletes/<seg-id>.g<N>.npy sorted int32 rows of a segment deleted as of generation N (written
                              once by the commit that deleted them; later versions refer to it)
    merging/                  a compaction's segment under construction (and its own lock)
    .lock                     the single writer's lock (:class:`rag.index.store.BuildLock`)

A commit writes only the new segment (its pending upserts), the deletion arrays of segments that
lost rows and a manifest, then replaces ``CURRENT``. Garbage collection keeps what the current and
the previous version refer to. A kill at any moment leaves ``CURRENT`` naming a complete version.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from rag.index.dense import APPROX_THRESHOLD
from rag.errors import IndexCorruptError, IndexLockedError, IndexMismatchError, IndexMissingError
from rag.index.lexical import BM25_B, BM25_K1, term_weights
from rag.index.store import FORMAT, FORMAT_VERSION, BuildLock, _fsync_dir, current_version, sha256_file
from rag.index.store import read_manifest as store_read_manifest
from rag.index.backend import IndexReader, IndexWriter, Record
from rag.index.segments import HINT, Segment, SegmentData, data_from_tokens, encode_key, write_segment

CURRENT = "CURRENT"
PREVIOUS = ".previous"
MANIFEST = "manifest.json"
SEGMENTS = "segments"
DELETES = "deletes"
MERGING = "merging"
TMP = ".tmp-"


def _token() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"


def _write_npy_durably(path: Path, arr: np.ndarray) -> dict:
    tmp = path.with_name(TMP + path.name)
    with open(tmp, "wb") as f:
        np.save(f, arr, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return {"size": path.stat().st_size, "sha256": sha256_file(path)}


def read_manifest(version_dir: Path) -> dict:
    return store_read_manifest(version_dir)


def publish_manifest(root: Path, manifest: dict) -> str:
    """Write ``v-*/manifest.json`` durably and switch ``CURRENT`` to it (call holding the lock)."""
    token = _token()
    tmp = root / f"{TMP}{token}"
    tmp.mkdir()
    with open(tmp / MANIFEST, "w", encoding="utf-8") as f:
        # compact: the C encoder (indent would take the pure-Python one, 10x slower on 20k files' records)
        f.write(json.dumps(manifest, ensure_ascii=False, separators=(",", ":")))
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(tmp)
    final = root / f"v-{token}"
    os.rename(tmp, final)
    _fsync_dir(root)
    try:
        old = current_version(root)
    except IndexCorruptError:
        old = None
    pointer = root / f"{CURRENT}.{token}"
    with open(pointer, "w", encoding="utf-8") as f:
        f.write(final.name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(pointer, root / CURRENT)
    _fsync_dir(root)
    if old is not None:
        prev = root / f"{PREVIOUS}.{token}"
        prev.write_text(old.name + "\n", encoding="utf-8")
        os.replace(prev, root / PREVIOUS)
    return final.name


def collect_garbage(root: Path, known: dict[str, dict] | None = None, *, sweep: bool = True) -> None:
    """Remove versions, segments and deletion arrays that neither the current nor the previous
    version refers to, and what dead writers left. Call holding the writer's lock. ``known``:
    manifests the caller already holds, by version name (not read again). Without ``sweep`` only
    the top level is cleaned (no manifest is read; segments and deletion arrays wait for a commit)."""
    keep_versions, keep_segments, keep_deletes = set(), set(), set()
    try:
        cur = current_version(root)
    except IndexCorruptError:
        return  # never delete anything when the pointer cannot be read
    names = [cur.name] if cur else []
    try:
        prev = (root / PREVIOUS).read_text(encoding="utf-8").strip()
        if prev:
            names.append(prev)
    except OSError:
        pass
    for name in names:
        keep_versions.add(name)  # even one this rag cannot read: it stays until a newer one replaces it
        if not sweep:
            continue
        try:
            m = (known or {}).get(name) or read_manifest(root / name)
        except (IndexCorruptError, IndexMismatchError):
            continue
        for s in m["segments"]:
            keep_segments.add(s["id"])
            if s.get("deletes"):
                keep_deletes.add(Path(s["deletes"]["path"]).name)
    for p in root.iterdir():
        if p.name.startswith(TMP) or (p.name.startswith("v-") and p.name not in keep_versions):
            shutil.rmtree(p, ignore_errors=True)
        elif p.name.startswith((CURRENT + ".", PREVIOUS + ".")):
            p.unlink(missing_ok=True)
    if not sweep:
        return
    for sub, keep in ((SEGMENTS, keep_segments), (DELETES, keep_deletes)):
        d = root / sub
        if d.is_dir():
            for p in d.iterdir():
                if p.name not in keep:
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    merging = root / MERGING
    if merging.is_dir():  # a compaction's leftovers, unless one is running now
        try:
            with BuildLock(merging):
                for p in merging.iterdir():
                    if p.name != ".lock":
                        shutil.rmtree(p, ignore_errors=True)
        except IndexLockedError:
            pass


class _Live:
    """A segment as a version sees it: the segment and its deleted rows."""

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
        self._segs = [_Live(root, e) for e in manifest["segments"]] if manifest else []
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
            data = data_from_tokens([encode_key(r.key) for r in recs],
                                    np.stack([np.asarray(r.vector, dtype=np.float32).reshape(-1) for r in recs]),
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
        seg_id = f"s-{_token()}"
        tmp = self.root / SEGMENTS / f"{TMP}{seg_id}"
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
        self._segs = [_Live(self.root, e) for e in entries]
        self._bases = None
        return name

    # -- reading ---------------------------------------------------------------------------------
    def count(self) -> int:
        return sum(s.live for s in self._segs)

    def segments(self) -> list[dict]:
        """Per live segment: id, kind, rows, deleted rows (for status and the merge policy)."""
        return [{"id": s.segment.id, "kind": s.segment.kind, "rows": s.segment.rows, "deleted": len(s.deleted)}
                for s in self._segs]

    def _find(self, key: str) -> tuple[_Live, int] | None:
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

    def _bm25_by_segment(self, query_tokens: Sequence[str], k1: float, b: float,
                         extra: Mapping[str, float] | None = None):
        weights: dict[str, float] = {}
        for t in query_tokens:
            if t:
                weights[t] = weights.get(t, 0) + 1
        for t, w in (extra or {}).items():  # weighted terms (a follow-up's context), added
            if t and w > 0:
                weights[t] = weights.get(t, 0) + float(w)
        n_docs = self.count()
        if not weights or n_docs == 0:
            return []
        avgdl = sum(s.live_len for s in self._segs) / n_docs
        post: list[dict[str, tuple[np.ndarray, np.ndarray]]] = []
        df = dict.fromkeys(weights, 0)
        for s in self._segs:
            per = {}
            for t in weights:
                rows, tf = s.segment.postings(t)
                if len(rows) and len(s.deleted):
                    keep = ~s.mask[rows]
                    rows, tf = rows[keep], tf[keep]
                if len(rows):
                    per[t] = (rows, tf)
                    df[t] += len(rows)
            post.append(per)
        idf = {t: math.log(1 + (n_docs - df[t] + 0.5) / (df[t] + 0.5)) for t in weights}
        out = []
        for si, (s, per) in enumerate(zip(self._segs, post)):
            if not per:
                continue
            doclen = np.asarray(s.segment.doclen)
            all_rows, all_vals = [], []
            for t, (rows, tf) in per.items():
                all_rows.append(rows)
                all_vals.append(weights[t] * term_weights(tf, doclen[rows], avgdl, idf[t], k1, b))
            rows = np.concatenate(all_rows)
            uniq, inv = np.unique(rows, return_inverse=True)
            out.append((si, (uniq, np.bincount(inv, weights=np.concatenate(all_vals), minlength=len(uniq)))))
        return out

    # -- positions: the live passages numbered 0..count()-1 in segment order (one open version) ---
    def _live_bases(self) -> np.ndarray:
        if self._bases is None:
            self._bases = np.concatenate([[0], np.cumsum([s.live for s in self._segs])]).astype(np.int64)
        return self._bases

    def _positions(self, si: int, rows: np.ndarray) -> np.ndarray:
        s = self._segs[si]
        rows = np.asarray(rows, dtype=np.int64)
        return self._live_bases()[si] + rows - (np.searchsorted(s.deleted, rows) if len(s.deleted) else 0)

    def _row_of(self, pos: int) -> tuple[_Live, int]:
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
        """``(positions, scores)`` of every live passage with a positive BM25 score (unordered);
        ``extra`` adds weighted terms (term -> weight; each of ``query_tokens`` weighs 1).

        Exact BM25 (Lucene idf, bm25s's term-frequency part) over the live passages of all
        segments: N, document frequencies and the average length count live passages only. ``k1``
        and ``b`` are for a benchmark's grid (bench/tune_fusion.py); rag searches with the defaults."""
        ids, scores = [], []
        for si, (uniq, sc) in self._bm25_by_segment(query_tokens, k1, b, extra):
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
        out = []
        for s in self._segs:
            srt, order = s.segment._sorted
            if not len(srt) or len(p) > srt.dtype.itemsize:
                continue
            lo = int(np.searchsorted(srt, np.array(p, dtype=srt.dtype)))
            hi = lo
            while hi < len(srt) and bytes(srt[hi]).startswith(p):
                hi += 1
            for j in range(lo, hi):
                row = int(order[j])
                if not s.mask[row]:
                    out.append(bytes(srt[j]).decode("utf-8"))
        return out

    def vectors_of(self, keys: Sequence[str]) -> list[np.ndarray | None]:
        """The stored vector of each key in the open version (None for an unknown key)."""
        out = []
        for key in keys:
            found = self._find(key)
            out.append(np.asarray(found[0].segment.vectors[found[1]]) if found else None)
        return out
