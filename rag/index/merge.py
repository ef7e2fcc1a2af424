"""Compaction: merge small segments and rewrite segments that carry many deleted rows.

:func:`compact` may run in a background thread or process while readers search and while no other
compaction runs. It builds the merged segment from a snapshot *without* the writer's lock (HNSW
construction can take minutes), then takes the lock only to switch: rows deleted by commits that
happened meanwhile are carried into the merged segment's deletion array, so nothing is lost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.index.dense import APPROX_THRESHOLD
from rag.index.store import DELETES, MERGING, SEGMENTS, BuildLock, _fsync_dir, unique_token
from rag.index.local import LocalIndex
from rag.index.segments import LiveSegment, SegmentData, write_segment


@dataclass(frozen=True)
class MergePolicy:
    small_rows: int = 10_000      # a segment under this many rows is "small"
    max_small: int = 8            # more small segments than this: merge them all
    deleted_ratio: float = 0.2    # a segment with more deleted rows than this share is rewritten


def plan(segments: list[dict], policy: MergePolicy) -> list[str]:
    """Ids of the segments to merge into one (empty: nothing to do). ``segments`` as LocalIndex.segments()."""
    heavy = [s["id"] for s in segments if s["rows"] and s["deleted"] / s["rows"] > policy.deleted_ratio]
    small = [s["id"] for s in segments if s["rows"] - s["deleted"] < policy.small_rows]
    chosen = set(heavy)
    if len(small) > policy.max_small or (heavy and small):
        chosen.update(small)
    return [s["id"] for s in segments if s["id"] in chosen]


def _merged_data(sources: list[LiveSegment]) -> tuple[SegmentData, list[np.ndarray]]:
    keys, vectors, lines, doclens = [], [], [], []
    vocab: dict[str, int] = {}
    p_terms, p_rows, p_tf, rowmaps = [], [], [], []
    base = 0
    for s in sources:
        seg = s.segment
        live = np.flatnonzero(~s.mask)
        rowmap = np.full(seg.rows, -1, dtype=np.int64)
        rowmap[live] = base + np.arange(len(live))
        rowmaps.append(rowmap)
        keys.extend(bytes(k) for k in np.asarray(seg.keys)[live])
        vectors.append(np.asarray(seg.vectors)[live])
        lines.extend(seg.payload_line(int(r)) for r in live)
        ptr, rows, tf, doclen = seg.postings_arrays
        doclens.append(np.asarray(doclen)[live])
        local = np.array([vocab.setdefault(t, len(vocab)) for t in seg.vocab], dtype=np.int64)
        terms = np.repeat(local, np.diff(np.asarray(ptr)))
        new_rows = rowmap[np.asarray(rows)]
        keep = new_rows >= 0
        p_terms.append(terms[keep])
        p_rows.append(new_rows[keep])
        p_tf.append(np.asarray(tf)[keep].astype(np.int64))
        base += len(live)
    dim = sources[0].segment.vectors.shape[1]
    data = SegmentData(keys, np.concatenate(vectors) if vectors else np.empty((0, dim), np.float32), lines,
                       list(vocab), np.concatenate(p_terms), np.concatenate(p_rows), np.concatenate(p_tf),
                       np.concatenate(doclens))
    return data, rowmaps


def compact(location: str | Path, policy: MergePolicy = MergePolicy(), *, hnsw_threshold: int = APPROX_THRESHOLD,
            lock_wait: float = 600.0, only: list[str] | None = None) -> str | None:
    """Merge what ``policy`` (or ``only``, a list of segment ids) selects; returns the new version or None.

    Raises :class:`rag.errors.IndexLockedError` when another compaction is running, or when the
    writer's lock is not free within ``lock_wait`` seconds.
    """
    root = Path(location)
    (root / MERGING).mkdir(parents=True, exist_ok=True)
    with BuildLock(root / MERGING):
        snap = LocalIndex.open(root)
        try:
            ids = only if only is not None else plan(snap.segments(), policy)
            sources = [s for s in snap._segs if s.segment.id in set(ids)]
            if len(sources) < 1 or (len(sources) == 1 and not len(sources[0].deleted)):
                return None
            data, rowmaps = _merged_data(sources)
            seg_id = f"s-{unique_token()}"
            building = root / MERGING / seg_id
            entry = {"id": seg_id, **write_segment(building, data, hnsw_threshold)}
            snap_deleted = {s.segment.id: s.deleted for s in sources}
        finally:
            snap.close()
        with BuildLock(root, wait=lock_wait):
            cur = LocalIndex.open(root)  # the lock is ours: open for reading, write by hand below
            try:
                by_id = {s.segment.id: s for s in cur._segs}
                if any(sid not in by_id for sid in snap_deleted):
                    return None  # a source vanished (all its rows deleted meanwhile): the merge is stale
                later = [rowmap[np.setdiff1d(by_id[sid].deleted, snap_deleted[sid])]
                         for (sid, rowmap) in zip(snap_deleted, rowmaps)]
                later_rows = np.sort(np.concatenate(later)) if later else np.empty(0, np.int64)
                os.rename(building, root / SEGMENTS / seg_id)
                _fsync_dir(root / SEGMENTS)
                _fsync_dir(root / MERGING)
                generation = cur._manifest["generation"] + 1
                if len(later_rows):
                    merged = LiveSegment(root, entry)
                    entry["deletes"] = cur._write_deletes(merged.segment, later_rows.astype(np.int32), generation)
                    merged.segment.close()
                entries, placed = [], False
                for s in cur._segs:
                    if s.segment.id in snap_deleted:
                        if not placed and (not entry.get("deletes") or entry["deletes"]["count"] < entry["rows"]):
                            entries.append(entry)
                        placed = True
                    else:
                        entries.append(s.entry)
                (root / DELETES).mkdir(exist_ok=True)
                return cur._publish(entries, generation)
            finally:
                cur.close()
