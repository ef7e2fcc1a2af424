"""Building and updating an index: only passages with new content are embedded.

``build_index(seeds, index)`` walks the seeds folder, leaves the passages of files whose content is
unchanged alone (:mod:`rag.documents.changes` decides, by stamp and then hash), re-reads the others
(:mod:`rag.indexing.changed_files`), and sends only the differences to the index backend
(:class:`rag.index.local.LocalIndex`) under stable passage keys
(:func:`rag.index.passages_io.passage_key`): new keys are upserted (reusing the stored vector of a
text the file already had), vanished ones deleted, then one commit publishes the new version
atomically (:mod:`rag.indexing.commit`). Unchanged files cost nothing: no re-hashing, no rewriting,
no index rebuild. When no content changed it publishes nothing and returns at once, without loading
the model. After a commit, the merge policy (:mod:`rag.index.merge`) may compact segments, in this
process. ``build_passages`` indexes ready-made passages (an evaluation corpus) the same way.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from rag.documents.changes import Changes, clear_stamps, detect_changes, load_stamps, save_stamps
from rag.documents.files import SeedFile, iter_seed_files
from rag.documents.ingest import MAX_FILE_BYTES
from rag.embedding.model import ModelInfo
from rag.errors import RagError, SeedsError
from rag.index import store
from rag.index.backend import IndexWriter
from rag.index.dense import APPROX_THRESHOLD
from rag.index.lexical import BM25_B, BM25_K1
from rag.index.local import LocalIndex
from rag.index.store import collect_garbage
from rag.index.merge import MergePolicy, compact, plan
from rag.indexing.changed_files import file_records
from rag.indexing.commit import embed_and_commit
from rag.indexing import encoders
from rag.indexing.hooks import BuildProgress, Embedder, Reader
from rag.indexing.manifest import calibration_stale, current_meta, ingest_params, model_info_for, same_model
from rag.types import BuildStats, Passage, Skipped

__all__ = ["BuildProgress", "Embedder", "Reader", "build_index", "build_passages"]


def build_index(
    seeds: str | Path,
    index: str | Path,
    *,
    rebuild: bool = False,
    encoder=None,
    model_dir: str | Path | None = None,
    progress: BuildProgress | None = None,
    cancel: threading.Event | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
    lock_wait: float = 0.0,
    dense_kind: str = "auto",
    export_query_encoder: bool | str = True,
    embedder: Embedder | None = None,
    reader: Reader | None = None,
    precision: str | None = None,
) -> BuildStats:
    """Build or update the index at ``index`` from the documents under ``seeds``.

    ``encoder`` is any :class:`rag.embedding.document_encoder.Encoder`; by default the bundled model
    (see :func:`rag.indexing.encoders.passage_encoder`), loaded only if some passage needs
    embedding: its ONNX Runtime export from the user cache (:mod:`rag.embedding.onnx_encoder`),
    which a BERT model gets on the spot, without torch, when some passage needs embedding. With the
    default encoder and ``export_query_encoder``, a model still without an export is exported (with
    torch): at the end of the build (True), or in a detached process that nothing waits for
    (``"background"``). ``embedder`` replaces only the embedding of new passages (see
    :data:`Embedder`); reading, the change decision and the publish stay here. ``reader`` replaces
    only the reading and chunking of the new and changed files (see :data:`Reader`); which files
    changed is decided here. ``precision`` ("fp32" or "int8", :mod:`rag.embedding.quantize`): how
    the default encoder embeds; None keeps the current version's, and a new index gets int8 where
    the model's graph can be quantized. Another precision than the current version's embeds all again.
    """
    t0 = time.perf_counter()
    seeds = Path(seeds)
    index_dir = Path(index)
    files, walk_skipped = iter_seed_files(seeds)  # SeedsError when the folder is missing
    with store.BuildLock(index_dir, wait=lock_wait) as lock:
        current, why = (None, None) if rebuild else _open_current(index_dir, lock, dense_kind)
        try:
            stats, compact_after = _build_locked(
                seeds, index_dir, lock, current, why, files, walk_skipped, t0, encoder=encoder, model_dir=model_dir,
                progress=progress, cancel=cancel, max_file_bytes=max_file_bytes, dense_kind=dense_kind,
                export_mode=export_query_encoder, embedder=embedder, reader=reader, precision=precision)
        finally:
            if current is not None:
                current.close()
    if compact_after:  # in this process, after the lock is released (readers and builds go on meanwhile)
        _compact(index_dir, stats, dense_kind)
        stats.seconds = time.perf_counter() - t0
    return stats


def _open_current(index_dir: Path, lock, dense_kind: str) -> tuple[IndexWriter | None, str | None]:
    """The current version opened for writing under the build's lock, or ``(None, why)``."""
    try:
        w = LocalIndex.open(index_dir, writable=True, lock=lock, hnsw_threshold=_hnsw_threshold(dense_kind))
    except ValueError:  # nothing built yet (a new index needs its dimension)
        return None, None
    except RagError as exc:
        return None, f"the existing index is not reusable ({exc}); building from scratch"
    return w, None


def _build_locked(seeds: Path, index_dir: Path, lock, current: IndexWriter | None, why, files: list[SeedFile],
                  walk_skipped: list[Skipped], t0: float, *, encoder, model_dir, progress, cancel,
                  max_file_bytes: int, dense_kind: str, export_mode: bool | str, embedder=None,
                  reader=None, precision: str | None = None) -> tuple[BuildStats, bool]:
    """build_index under the lock; returns the stats and whether the merge policy asks to compact."""
    collect_garbage(index_dir, sweep=False)  # what dead builds left at the top; the commit sweeps the rest
    prev_manifest = current.meta if current is not None else None
    info = model_info_for(encoder, model_dir, prev_manifest, precision)
    stats = BuildStats(index_dir=index_dir)
    if why:
        stats.warnings.append(why)

    prev_files: dict = {}
    prev_skipped: dict = {}
    basis: dict = {}
    if prev_manifest is not None and (
        prev_manifest.get("ingest") == ingest_params(info, max_file_bytes)
        and same_model(prev_manifest, info)
        and prev_manifest.get("seeds_root") == str(seeds.resolve())
    ):
        basis = prev_manifest
        prev_files = prev_manifest.get("files", {})
        prev_skipped = prev_manifest.get("skipped_files", {})

    # The one change decision (rag.documents.changes): stamps decide what is hashed, hashes what changed.
    ch = detect_changes(files, walk_skipped, basis, load_stamps(index_dir) if basis else {})
    if basis and not ch and not calibration_stale(prev_manifest):
        save_stamps(index_dir, ch.touched)  # touched files are not hashed again by the next check
        counts = prev_manifest.get("counts", {})
        stats.changed = False
        stats.files = int(counts.get("files", 0))
        stats.passages = int(counts.get("passages", 0))
        stats.skipped = sorted(
            (Skipped(s, v.get("reason", "")) for s, v in prev_skipped.items()), key=lambda k: k.source
        )
        if encoder is None:
            encoders.export_query_encoder(info, export_mode, stats, progress)
        stats.seconds = time.perf_counter() - t0
        return stats, False
    fresh = set(ch.added) | set(ch.modified)
    unchanged = [f for f in files if f.source not in fresh]
    to_read = [f for f in files if f.source in fresh]

    writer = _open_writer(index_dir, lock, info, current, stats, dense_kind)
    compact_after = False
    try:
        if writer.count() == 0:  # nothing to build on: every file is read (and embedded)
            to_read = sorted(unchanged + to_read, key=lambda f: f.source)
            unchanged = []
            prev_files, prev_skipped = {}, {}
        compact_after = _read_and_commit(
            seeds, writer, walk_skipped, ch, unchanged, to_read, prev_files, prev_skipped,
            (prev_manifest or {}).get("files", {}) if writer.count() else {},
            info, encoder, stats, progress=progress, cancel=cancel, max_file_bytes=max_file_bytes, t0=t0,
            embedder=embedder, reader=reader,
        )
    finally:
        writer.close()
    clear_stamps(index_dir)  # the new manifest records every file's stamp
    if encoder is None:
        encoders.export_query_encoder(info, export_mode, stats, progress)
    stats.seconds = time.perf_counter() - t0
    return stats, compact_after


def _open_writer(index_dir: Path, lock, info: ModelInfo, current: IndexWriter | None, stats: BuildStats,
                 dense_kind: str) -> IndexWriter:
    """The backend to write: the current version when its model is this build's, else an empty one
    (``fresh``: the commit replaces everything)."""
    thr = _hnsw_threshold(dense_kind)
    prev_meta = current.meta if current is not None else None
    if prev_meta is not None and same_model(prev_meta, info) and current.dim == info.dim:
        return current
    if prev_meta is not None and prev_meta.get("model"):
        stats.warnings.append(
            f"the existing index was built with another model ({prev_meta['model'].get('name')}); building from scratch"
        )
    return LocalIndex.open(index_dir, writable=True, dim=info.dim, lock=lock, fresh=True, hnsw_threshold=thr)


def _hnsw_threshold(dense_kind: str) -> int:
    try:
        return {"auto": APPROX_THRESHOLD, "flat": 2**62, "hnsw": 1}[dense_kind]
    except KeyError:
        raise ValueError(f"dense index kind must be 'auto', 'flat' or 'hnsw', not {dense_kind!r}") from None


def _compact(index_dir: Path, stats: BuildStats, dense_kind: str) -> None:
    """Run the merge policy's compaction now (in this process, after the build released its lock)."""
    try:
        compact(index_dir, hnsw_threshold=_hnsw_threshold(dense_kind), lock_wait=0.0)
    except RagError as exc:  # another build took the lock: the next build's policy check merges
        stats.warnings.append(f"segments not merged this time ({exc})")


def _read_and_commit(seeds: Path, writer: IndexWriter, walk_skipped: list[Skipped], ch: Changes,
                     unchanged: list[SeedFile], to_read: list[SeedFile], prev_files: dict, prev_skipped: dict,
                     old_indexed: dict, info: ModelInfo, encoder, stats: BuildStats, *, progress, cancel,
                     max_file_bytes: int, t0: float, embedder=None, reader=None) -> bool:
    """Read the new and changed files, send their passages' differences to ``writer`` and commit.
    Returns whether the merge policy asks to compact."""
    rec = file_records(ch, unchanged, to_read, prev_files, prev_skipped, walk_skipped, info, encoder, stats,
                       progress=progress, cancel=cancel, max_file_bytes=max_file_bytes, reader=reader)
    total = sum(int(m.get("passages", 0)) for m in rec.files.values())
    if not total:
        raise SeedsError(
            f"no readable .txt or .md files in {seeds}: add some and run `rag index` again"
            + (f" ({len(stats.skipped)} skipped)" if stats.skipped else "")
        )
    # Sources whose passages leave the index: removed files, and files indexed before but not now.
    gone = [src for src in old_indexed if src not in rec.files]
    meta = {
        "seeds_root": str(seeds.resolve()),
        "ingest": ingest_params(info, max_file_bytes),
        "files": rec.files,
        "skipped_files": dict(sorted(rec.skipped.items())),
    }
    embed_and_commit(writer, rec.passages, gone, total, info, encoder, stats, progress=progress, cancel=cancel,
                     t0=t0, meta=meta, embedder=embedder)
    stats.files = len(rec.files)
    stats.passages = total
    return bool(plan(writer.segments(), MergePolicy()))


def build_passages(
    index: str | Path,
    passages: list[Passage],
    corpus: dict,
    *,
    encoder=None,
    model_dir: str | Path | None = None,
    progress: BuildProgress | None = None,
    dense_kind: str = "auto",
    export_query_encoder: bool | str = True,
    precision: str | None = None,
) -> BuildStats:
    """Index ready-made passages (an evaluation corpus, say) through the same embed/publish path.

    ``corpus`` identifies the source (e.g. ``{"corpus.jsonl": {"sha256": ...}}``); when it and the
    model match the current version, nothing is done.
    """
    t0 = time.perf_counter()
    index_dir = Path(index)
    with store.BuildLock(index_dir) as lock:
        collect_garbage(index_dir)
        prev_manifest, why = current_meta(index_dir)
        info = model_info_for(encoder, model_dir, prev_manifest, precision)
        stats = BuildStats(index_dir=index_dir)
        if why:
            stats.warnings.append(why)
        ingest = {"corpus": True, "bm25": [BM25_K1, BM25_B]}
        if (
            prev_manifest is not None
            and prev_manifest.get("files") == corpus
            and prev_manifest.get("ingest") == ingest
            and same_model(prev_manifest, info)
        ):
            stats.changed = False
            stats.passages = int(prev_manifest.get("counts", {}).get("passages", 0))
        else:
            by_source: dict[str, list[Passage]] = {}
            for p in passages:
                by_source.setdefault(p.source, []).append(p)
            stats.passages = len(passages)
            # another corpus: the commit replaces the whole index (fresh), atomically
            with LocalIndex.open(index_dir, writable=True, dim=info.dim, lock=lock, fresh=True,
                                 hnsw_threshold=_hnsw_threshold(dense_kind)) as writer:
                embed_and_commit(
                    writer, by_source, [], len(passages), info, encoder, stats, progress=progress, cancel=None,
                    t0=t0, meta={"seeds_root": "", "ingest": ingest, "files": corpus, "skipped_files": {}},
                )
        if encoder is None:
            encoders.export_query_encoder(info, export_query_encoder, stats, progress)
        stats.files = len(corpus)
        stats.seconds = time.perf_counter() - t0
        return stats
