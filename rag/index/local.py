"""The local backend: Lucene-style immutable segments, per-version deletion arrays, an atomic switch.

Layout of an index folder::

    CURRENT                   the name of the complete version readers use (replaced atomically)
    .previous                 the version before it (kept for readers that opened it a moment ago)
    v-<time>-<id>/manifest.json
                              a version: its live segments, each with its deletion array and counts,
                              and the sizes and checksums of every file (carried over, never recomputed)
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
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from rag.index.dense import APPROX_THRESHOLD
from rag.errors import IndexCorruptError, IndexLockedError, IndexMismatchError, IndexMissingError
from rag.index.lexical import BM25_B, BM25_K1
from rag.index.store import BuildLock, _fsync_dir, current_version, sha256_file
from rag.index.backend import Hit, IndexBackend, Record
from rag.index.segments import HINT, Segment, SegmentData, data_from_tokens, encode_key, write_segment

FORMAT = "rag-segments"
FORMAT_VERSION = 1
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
    path = version_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"{path} is missing; {HINT}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise IndexCorruptError(f"{path} is not valid JSON ({exc}); {HINT}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexCorruptError(f"{path} is not a segmented rag index manifest; {HINT}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(f"{path} has index format {manifest.get('format_version')}, "
                                 f"this rag reads {FORMAT_VERSION}; {HINT}")
    return manifest


def publish_manifest(root: Path, manifest: dict) -> str:
    """Write ``v-*/manifest.json`` durably and switch ``CURRENT`` to it (call holding the lock)."""
    token = _token()
    tmp = root / f"{TMP}{token}"
    tmp.mkdir()
    with open(tmp / MANIFEST, "w", encoding="utf-8") as f:
        f.write(json.dumps(manifest, indent=1, ensure_ascii=False))
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


def collect_garbage(root: Path) -> None:
    """Remove versions, segments and deletion arrays that neither the current nor the previous
    version refers to, and what dead writers left. Call holding the writer's lock."""
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
        try:
            m = read_manifest(root / name)
        except (IndexCorruptError, IndexMismatchError):
            continue
        keep_versions.add(name)
        for s in m["segments"]:
            keep_segments.add(s["id"])
            if s.get("deletes"):
                keep_deletes.add(Path(s["deletes"]["path"]).name)
    for p in root.iterdir():
        if p.name.startswith(TMP) or (p.name.startswith("v-") and p.name not in keep_versions):
            shutil.rmtree(p, ignore_errors=True)
        elif p.name.startswith((CURRENT + ".", PREVIOUS + ".")):
            p.unlink(missing_ok=True)
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


class LocalIndex(IndexBackend):
    """The local segmented backend. ``open(path)`` reads; ``open(path, writable=True)`` writes."""

    def __init__(self, root: Path, manifest: dict | None, lock: BuildLock | None, dim: int | None,
                 hnsw_threshold: int) -> None:
        self.root = root
        self._manifest = manifest
        self._lock = lock
        self.dim = manifest["dim"] if manifest else dim
        self.hnsw_threshold = hnsw_threshold
        self._version = manifest.get("_name") if manifest else None
        self._segs = [_Live(root, e) for e in manifest["segments"]] if manifest else []
        self._pending: dict[str, Record] = {}
        self._pending_deletes: set[str] = set()

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, location: str | Path, *, writable: bool = False, dim: int | None = None,
             hnsw_threshold: int = APPROX_THRESHOLD, lock_wait: float = 0.0,
             preload: bool | None = None) -> "LocalIndex":
        """Open the current version. Readers ``preload`` by default (every file mapped or read now,
        so that garbage collection of a later commit cannot pull files from under them); writers
        only read the keys of the segments they touch, lazily."""
        root = Path(location)
        lock = None
        if writable:
            lock = BuildLock(root, wait=lock_wait).__enter__()
        try:
            manifest = cls._read_current(root)
            if manifest is None and not writable:
                raise IndexMissingError(f"no index at {root}: run `rag index` to build it")
            if manifest is None and dim is None:
                raise ValueError("a new index needs the vector dimension (dim=...)")
            if manifest is not None and dim is not None and dim != manifest["dim"]:
                raise IndexMismatchError(f"index at {root} holds {manifest['dim']}-d vectors, not {dim}-d; {HINT}")
            index = cls(root, manifest, lock, dim, hnsw_threshold)
            if preload if preload is not None else not writable:
                for s in index._segs:
                    s.segment.preload()
            return index
        except BaseException:
            if lock is not None:
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
        if self._lock is not None:
            self._lock.__exit__(None, None, None)
            self._lock = None

    def verify(self) -> None:
        """Full check: every file of the open version against its recorded sha256."""
        for s in self._segs:
            s.segment.verify()
            d = s.entry.get("deletes")
            if d and sha256_file(self.root / d["path"]) != d["sha256"]:
                raise IndexCorruptError(f"deletion array {d['path']} does not match its checksum; {HINT}")

    # -- writing ---------------------------------------------------------------------------------
    def _writable(self) -> None:
        if self._lock is None:
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

    def delete(self, keys: Iterable[str]) -> None:
        self._writable()
        for k in keys:
            self._pending.pop(k, None)
            self._pending_deletes.add(k)

    def commit(self) -> str:
        """Write the pending changes as a new version and switch to it; returns its name."""
        self._writable()
        segments_dir = self.root / SEGMENTS
        segments_dir.mkdir(exist_ok=True)
        (self.root / DELETES).mkdir(exist_ok=True)
        generation = (self._manifest["generation"] if self._manifest else 0) + 1
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
        name = self._publish(entries, generation)
        self._pending.clear()
        self._pending_deletes.clear()
        return name

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

    def _publish(self, entries: list[dict], generation: int) -> str:
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "dim": self.dim, "generation": generation,
                    "live": sum(e["rows"] - (e["deletes"]["count"] if e.get("deletes") else 0) for e in entries),
                    "segments": entries}
        _fsync_dir(self.root / DELETES)
        name = publish_manifest(self.root, manifest)
        collect_garbage(self.root)
        # the writer continues from the version it just wrote
        for s in self._segs:
            s.segment.close()
        manifest["_name"] = name
        self._manifest = manifest
        self._version = name
        self._segs = [_Live(self.root, e) for e in entries]
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

    def get(self, keys: Sequence[str]) -> list[dict | None]:
        out = []
        for key in keys:
            found = self._find(key)
            out.append(found[0].segment.payload(found[1]) if found else None)
        return out

    def search_dense(self, query_vectors: np.ndarray, n: int) -> list[list[Hit]]:
        q = np.ascontiguousarray(np.atleast_2d(query_vectors), dtype=np.float32)
        cands: list[list[tuple[float, int, int]]] = [[] for _ in range(len(q))]
        for si, s in enumerate(self._segs):
            scores, rows = s.segment.search_dense(q, n, s.deleted)
            for qi in range(len(q)):
                cands[qi].extend((float(sc), si, int(r)) for sc, r in zip(scores[qi], rows[qi]) if r >= 0)
        out = []
        for c in cands:
            c.sort(key=lambda t: (-t[0], t[1], t[2]))
            out.append([(self._segs[si].segment.keys[r].decode("utf-8"), sc) for sc, si, r in c[:n]])
        return out

    def search_lexical(self, query_tokens: Sequence[str], n: int, k1: float = BM25_K1,
                       b: float = BM25_B) -> list[Hit]:
        """Exact BM25 (Lucene idf, bm25s's term-frequency part) over the live passages of all segments.

        N, document frequencies and the average length count live passages only; a term repeated in
        the question counts once per occurrence, as in bm25s.
        """
        weights: dict[str, int] = {}
        for t in query_tokens:
            if t:
                weights[t] = weights.get(t, 0) + 1
        n_docs = self.count()
        if not weights or n_docs == 0 or n <= 0:
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
        cands: list[tuple[float, int, int]] = []
        for si, (s, per) in enumerate(zip(self._segs, post)):
            if not per:
                continue
            doclen = np.asarray(s.segment.doclen)
            all_rows, all_vals = [], []
            for t, (rows, tf) in per.items():
                tf = tf.astype(np.float64)
                norm = k1 * (1 - b + b * doclen[rows] / avgdl)
                all_rows.append(rows)
                all_vals.append(weights[t] * idf[t] * tf / (tf + norm))
            rows = np.concatenate(all_rows)
            uniq, inv = np.unique(rows, return_inverse=True)
            scores = np.bincount(inv, weights=np.concatenate(all_vals), minlength=len(uniq))
            m = min(n, len(uniq))
            top = np.argpartition(-scores, m - 1)[:m] if m < len(uniq) else np.arange(len(uniq))
            cands.extend((float(scores[i]), si, int(uniq[i])) for i in top if scores[i] > 0)
        cands.sort(key=lambda t: (-t[0], t[1], t[2]))
        return [(self._segs[si].segment.keys[r].decode("utf-8"), sc) for sc, si, r in cands[:n]]
