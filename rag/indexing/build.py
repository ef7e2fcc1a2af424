"""Building and updating an index: only passages with new content are embedded.

``build_index(seeds, index)`` walks the seeds folder, leaves the passages of files whose content is
unchanged alone (:mod:`rag.documents.changes` decides, by stamp and then hash), re-reads the others,
and sends only the differences to the index backend (:class:`rag.index.local.LocalIndex`) under
stable passage keys (:func:`rag.index.passages_io.passage_key`): new keys are upserted (reusing the
stored vector of a text the file already had), vanished ones deleted, then one commit publishes the
new version atomically. Unchanged files cost nothing: no re-hashing, no rewriting, no index rebuild.
When no content changed it publishes nothing and returns at once, without loading the model.
After a commit, the merge policy (:mod:`rag.index.merge`) may compact segments, in this process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from rag.version import __version__
from rag.index import store
from rag.index.backend import IndexWriter
from rag.index.local import collect_garbage
from rag.documents.changes import clear_stamps, detect_changes, load_stamps, save_stamps
from rag.errors import IndexCorruptError, RagError, SeedsError
from rag.documents.files import iter_seed_files
from rag.documents.ingest import INGEST_VERSION, MAX_FILE_BYTES
from rag.indexing.calibration import calibrate, needs_refit
from rag.indexing.reading import read_all
from rag.index.lexical import BM25_B, BM25_K1
from rag.embedding.model import ModelInfo, default_model_dir, model_info, weights_stamp
from rag.index.passages_io import key_text_hash, passage_key, passage_payload, source_prefix
from rag.search import confidence
from rag.types import BuildStats, Passage, Skipped


# progress(stage, done, total): stage is "reading", "embedding", "writing" or "exporting" (the
# query encoder for ONNX Runtime, once per model).
BuildProgress = Callable[[str, int, int], None]

# The embedding step of a build, pluggable: ``embedder(texts, info=, progress=, cancel=)`` returns one
# L2-normalized float32 row per text, in order, with the build's model ``info`` (``progress(done,
# total)``; raise BuildCancelled when ``cancel`` is set). None: the build's own encoder in this process. rag.distributed.embedding
# provides one that embeds on a Ray cluster; it may carry a ``path_name`` for the build summary.
Embedder = Callable[..., np.ndarray]

# The reading step of a build, pluggable: ``reader(files, token_ends=, max_tokens=, max_bytes=, info=,
# progress=, cancel=, warn=)`` returns one rag.indexing.reading.FileRead per file, in order, as
# read_file would (``progress(done, total)``; ``warn(line)`` adds a build warning). None: read here,
# one file after another. rag.distributed.reading provides one that reads on a Ray cluster.
Reader = Callable[..., list]


def _current_model_info(model_dir: Path, prev_manifest: dict | None) -> ModelInfo:
    """Model identity; the weights hash is taken from the manifest when the file is unchanged."""
    if prev_manifest:
        m = prev_manifest.get("model", {})
        if m.get("path") == str(model_dir) and m.get("stamp") == weights_stamp(model_dir):
            info = model_info(model_dir, with_hash=False)
            return replace(info, weights_sha256=m.get("weights_sha256", ""))
    return model_info(model_dir)


def _model_info_for(encoder, model_dir, prev_manifest: dict | None) -> ModelInfo:
    """The identity of the model this build embeds with: the given encoder's, or the model folder's."""
    if encoder is not None:
        return encoder.info
    mdir = Path(model_dir) if model_dir is not None else default_model_dir()
    return _current_model_info(mdir, prev_manifest)


def _meta_if_any(index_dir: Path) -> tuple[dict | None, str | None]:
    """The build metadata of the current version, or ``(None, why)`` when it cannot be read."""
    from rag.index.local import read_manifest

    try:
        version = store.current_version(index_dir)
        if version is None:
            return None, None
        return dict(read_manifest(version).get("meta") or {}), None
    except RagError as exc:
        return None, f"the existing index is not reusable ({exc}); building from scratch"


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
) -> BuildStats:
    """Build or update the index at ``index`` from the documents under ``seeds``.

    ``encoder`` is any :class:`rag.embedding.document_encoder.Encoder`; by default the bundled model
    (see :func:`_document_encoder`), loaded only if some passage needs embedding: its ONNX Runtime
    export from the user cache (:mod:`rag.embedding.onnx_encoder`), which a BERT model gets on the
    spot, without torch, when some passage needs embedding. With the default encoder and
    ``export_query_encoder``, a model still without an export is exported (with torch): at the end
    of the build (True), or in a detached process that nothing waits for (``"background"``).
    ``embedder`` replaces only the embedding of new passages (see :data:`Embedder`); reading, the
    change decision and the publish stay here. ``reader`` replaces only the reading and chunking of
    the new and changed files (see :data:`Reader`); which files changed is decided here.
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
                export_query_encoder=export_query_encoder, embedder=embedder, reader=reader)
        finally:
            if current is not None:
                current.close()
    if compact_after:  # in this process, after the lock is released (readers and builds go on meanwhile)
        _compact(index_dir, stats, dense_kind)
        stats.seconds = time.perf_counter() - t0
    return stats


def _open_current(index_dir: Path, lock, dense_kind: str) -> tuple[IndexWriter | None, str | None]:
    """The current version opened for writing under the build's lock, or ``(None, why)``."""
    from rag.index.local import LocalIndex

    try:
        w = LocalIndex.open(index_dir, writable=True, lock=lock, hnsw_threshold=_hnsw_threshold(dense_kind))
    except ValueError:  # nothing built yet (a new index needs its dimension)
        return None, None
    except RagError as exc:
        return None, f"the existing index is not reusable ({exc}); building from scratch"
    return w, None


def _build_locked(seeds: Path, index_dir: Path, lock, current: IndexWriter | None, why, files, walk_skipped,
                  t0: float, *, encoder, model_dir, progress, cancel, max_file_bytes: int, dense_kind: str,
                  export_query_encoder: bool | str, embedder=None, reader=None) -> tuple[BuildStats, bool]:
    """build_index under the lock; returns the stats and whether the merge policy asks to compact."""
    collect_garbage(index_dir, sweep=False)  # what dead builds left at the top; the commit sweeps the rest
    prev_manifest = current.meta if current is not None else None
    info = _model_info_for(encoder, model_dir, prev_manifest)
    stats = BuildStats(index_dir=index_dir)
    if why:
        stats.warnings.append(why)

    prev_files: dict = {}
    prev_skipped: dict = {}
    basis: dict = {}
    if prev_manifest is not None and (
        prev_manifest.get("ingest") == _ingest_params(info, max_file_bytes)
        and _same_model(prev_manifest, info)
        and prev_manifest.get("seeds_root") == str(seeds.resolve())
    ):
        basis = prev_manifest
        prev_files = prev_manifest.get("files", {})
        prev_skipped = prev_manifest.get("skipped_files", {})

    # The one change decision (rag.documents.changes): stamps decide what is hashed, hashes what changed.
    ch = detect_changes(files, walk_skipped, basis, load_stamps(index_dir) if basis else {})
    if basis and not ch and not _calibration_stale(prev_manifest):
        save_stamps(index_dir, ch.touched)  # touched files are not hashed again by the next check
        counts = prev_manifest.get("counts", {})
        stats.changed = False
        stats.files = int(counts.get("files", 0))
        stats.passages = int(counts.get("passages", 0))
        stats.skipped = sorted(
            (Skipped(s, v.get("reason", "")) for s, v in prev_skipped.items()), key=lambda k: k.source
        )
        if encoder is None:
            _export_query_encoder(index_dir, info, export_query_encoder, stats, progress)
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
            seeds, index_dir, writer, files, walk_skipped, ch, unchanged, to_read, prev_files, prev_skipped,
            (prev_manifest or {}).get("files", {}) if writer.count() else {},
            info, encoder, stats, progress=progress, cancel=cancel, max_file_bytes=max_file_bytes, t0=t0,
            embedder=embedder, reader=reader,
        )
    finally:
        writer.close()
    clear_stamps(index_dir)  # the new manifest records every file's stamp
    if encoder is None:
        _export_query_encoder(index_dir, info, export_query_encoder, stats, progress)
    stats.seconds = time.perf_counter() - t0
    return stats, compact_after


def _open_writer(index_dir: Path, lock, info: ModelInfo, current: IndexWriter | None, stats: BuildStats,
                 dense_kind: str) -> IndexWriter:
    """The backend to write: the current version when its model is this build's, else an empty one
    (``fresh``: the commit replaces everything)."""
    from rag.index.local import LocalIndex

    thr = _hnsw_threshold(dense_kind)
    prev_meta = current.meta if current is not None else None
    if prev_meta is not None and _same_model(prev_meta, info) and current.dim == info.dim:
        return current
    if prev_meta is not None and prev_meta.get("model"):
        stats.warnings.append(
            f"the existing index was built with another model ({prev_meta['model'].get('name')}); building from scratch"
        )
    return LocalIndex.open(index_dir, writable=True, dim=info.dim, lock=lock, fresh=True, hnsw_threshold=thr)


def _hnsw_threshold(dense_kind: str) -> int:
    from rag.index.dense import APPROX_THRESHOLD

    try:
        return {"auto": APPROX_THRESHOLD, "flat": 2**62, "hnsw": 1}[dense_kind]
    except KeyError:
        raise ValueError(f"dense index kind must be 'auto', 'flat' or 'hnsw', not {dense_kind!r}") from None


def _compact(index_dir: Path, stats: BuildStats, dense_kind: str) -> None:
    """Run the merge policy's compaction now (in this process, after the build released its lock)."""
    from rag.index.merge import compact

    try:
        compact(index_dir, hnsw_threshold=_hnsw_threshold(dense_kind), lock_wait=0.0)
    except RagError as exc:  # another build took the lock: the next build's policy check merges
        stats.warnings.append(f"segments not merged this time ({exc})")


def _read_and_commit(seeds, index_dir, writer: IndexWriter, files, walk_skipped, ch, unchanged, to_read, prev_files,
                     prev_skipped, old_indexed: dict, info: ModelInfo, encoder, stats: BuildStats, *, progress, cancel,
                     max_file_bytes: int, t0: float, embedder=None, reader=None):
    """Read the new and changed files, send their passages' differences to ``writer`` and commit.
    Returns (the document encoder this build loaded or None, whether the merge policy asks to compact)."""
    token_ends = encoder.token_ends if encoder is not None else None
    if token_ends is None:
        from rag.embedding.model import word_pieces

        token_ends = word_pieces(info.path).token_ends

    files_meta: dict[str, dict] = {}
    skipped_meta: dict[str, dict] = {s.source: {"reason": s.reason} for s in walk_skipped}
    stats.skipped = list(walk_skipped)
    by_source: dict[str, list[Passage]] = {}
    for f in unchanged:
        stamp = ch.touched[f.source][0].to_json() if f.source in ch.touched else {}
        if f.source in prev_files:
            files_meta[f.source] = {**prev_files[f.source], **stamp}
        else:
            skipped_meta[f.source] = {**prev_skipped[f.source], **stamp}
            stats.skipped.append(Skipped(f.source, prev_skipped[f.source].get("reason", "")))
    limit = info.max_tokens - 2  # [CLS] and [SEP]
    if reader is not None and to_read:
        reads = reader(to_read, token_ends=token_ends, max_tokens=limit, max_bytes=max_file_bytes, info=info,
                       progress=(lambda d, t: progress("reading", d, t)) if progress is not None else None,
                       cancel=cancel, warn=stats.warnings.append)
        if [r.source for r in reads] != [f.source for f in to_read]:
            raise RagError("the reader returned other files than the build asked for; nothing was published")
        stats.reader = str(getattr(reader, "where", "") or "custom")
    else:
        reads = read_all(to_read, token_ends, limit, max_file_bytes,
                         (lambda d, t: progress("reading", d, t)) if progress is not None else None)
    for r in reads:
        if r.skip:
            stats.skipped.append(Skipped(r.source, r.skip))
            if r.stamped:
                skipped_meta[r.source] = {"reason": r.skip, **r.stamp, "sha256": r.sha256 or None}
            continue
        if r.warning:
            stats.warnings.append(f"{r.source}: {r.warning}")
        ps = r.passages
        if not ps:
            stats.skipped.append(Skipped(r.source, "no text"))
            skipped_meta[r.source] = {"reason": "no text", **r.stamp, "sha256": r.sha256}
            continue
        by_source[r.source] = ps
        files_meta[r.source] = {
            "sha256": r.sha256,
            **r.stamp,
            "passages": len(ps),
            "encoding_warning": r.warning,
        }
    stats.skipped.sort(key=lambda k: k.source)

    total = sum(int(m.get("passages", 0)) for m in files_meta.values())
    if not total:
        raise SeedsError(
            f"no readable .txt or .md files in {seeds}: add some and run `rag index` again"
            + (f" ({len(stats.skipped)} skipped)" if stats.skipped else "")
        )
    # Sources whose passages leave the index: removed files, and files indexed before but not now.
    gone = [src for src in old_indexed if src not in files_meta]
    meta = {
        "seeds_root": str(seeds.resolve()),
        "ingest": _ingest_params(info, max_file_bytes),
        "files": files_meta,
        "skipped_files": dict(sorted(skipped_meta.items())),
    }
    _embed_and_commit(writer, by_source, gone, total, info, encoder, stats, progress=progress,
                             cancel=cancel, t0=t0, meta=meta, index_dir=index_dir, embedder=embedder)
    stats.files = len(files_meta)
    stats.passages = total
    return _wants_compaction(writer)


def _wants_compaction(writer: IndexWriter) -> bool:
    from rag.index.merge import MergePolicy, plan

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
) -> BuildStats:
    """Index ready-made passages (an evaluation corpus, say) through the same embed/publish path.

    ``corpus`` identifies the source (e.g. ``{"corpus.jsonl": {"sha256": ...}}``); when it and the
    model match the current version, nothing is done.
    """
    t0 = time.perf_counter()
    index_dir = Path(index)
    with store.BuildLock(index_dir) as lock:
        collect_garbage(index_dir)
        prev_manifest, why = _meta_if_any(index_dir)
        info = _model_info_for(encoder, model_dir, prev_manifest)
        stats = BuildStats(index_dir=index_dir)
        if why:
            stats.warnings.append(why)
        ingest = {"corpus": True, "bm25": [BM25_K1, BM25_B]}
        if (
            prev_manifest is not None
            and prev_manifest.get("files") == corpus
            and prev_manifest.get("ingest") == ingest
            and _same_model(prev_manifest, info)
        ):
            stats.changed = False
            stats.files = len(corpus)
            stats.passages = int(prev_manifest.get("counts", {}).get("passages", 0))
            if encoder is None:
                _export_query_encoder(index_dir, info, export_query_encoder, stats, progress)
            stats.seconds = time.perf_counter() - t0
            return stats
        from rag.index.local import LocalIndex

        by_source: dict[str, list[Passage]] = {}
        for p in passages:
            by_source.setdefault(p.source, []).append(p)
        # another corpus: the commit replaces the whole index (fresh), atomically
        with LocalIndex.open(index_dir, writable=True, dim=info.dim, lock=lock, fresh=True,
                             hnsw_threshold=_hnsw_threshold(dense_kind)) as writer:
            _embed_and_commit(
                writer, by_source, [], len(passages), info, encoder, stats, progress=progress, cancel=None, t0=t0,
                meta={"seeds_root": "", "ingest": ingest, "files": corpus, "skipped_files": {}}, index_dir=index_dir,
            )
        if encoder is None:
            _export_query_encoder(index_dir, info, export_query_encoder, stats, progress)
        stats.files = len(corpus)
        stats.passages = len(passages)
        stats.seconds = time.perf_counter() - t0
        return stats


def _embed_and_commit(
    writer: IndexWriter,
    by_source: dict[str, list[Passage]],
    gone: list[str],
    total: int,
    info: ModelInfo,
    encoder,
    stats: BuildStats,
    *,
    progress: BuildProgress | None,
    cancel: threading.Event | None,
    t0: float,
    meta: dict,
    index_dir: Path,
    embedder: Embedder | None = None,
):
    """Send the differences to the backend and commit: per re-read source, keys that vanished are
    deleted and new keys upserted (a text the source had before keeps its stored vector; the rest
    is embedded, each distinct text once); every passage of a ``gone`` source is deleted.

    Returns the default document encoder if this build loaded one (for the query-encoder export)."""
    from rag.index.backend import Record
    from rag.documents.headers import indexed_text
    from rag.documents.tokens import tokenize_many

    deletes: list[str] = []
    upserts: list[tuple[str, Passage]] = []
    reuse: dict[int, str] = {}  # upsert index -> the old key whose stored vector it takes
    for src in gone:
        old = writer.keys_with_prefix(source_prefix(src))
        deletes.extend(old)
        stats.removed += len(old)
    for src, ps in by_source.items():
        old = set(writer.keys_with_prefix(source_prefix(src)))
        new = {passage_key(p): p for p in ps}
        old_by_hash = {key_text_hash(k): k for k in sorted(old)}
        new_hashes = {key_text_hash(k) for k in new}
        gone_keys = sorted(old - new.keys())
        deletes.extend(gone_keys)
        stats.removed += sum(1 for k in gone_keys if key_text_hash(k) not in new_hashes)
        for k, p in new.items():
            if k in old:
                continue
            j = old_by_hash.get(key_text_hash(k))
            if j is not None:
                reuse[len(upserts)] = j
            upserts.append((k, p))

    # Vectors: the stored one for a text the source had; the rest embedded, each distinct text once.
    vectors = np.empty((len(upserts), info.dim), dtype=np.float32)
    if reuse:
        for i, v in zip(reuse, writer.vectors_of(list(reuse.values()))):
            vectors[i] = v
    new_rows: dict[str, list[int]] = {}
    enc = None  # the document encoder this build loaded, if any (an embedder loads none here)
    for i, (_, p) in enumerate(upserts):
        if i not in reuse:
            new_rows.setdefault(p.hash, []).append(i)
    if new_rows:
        texts = [indexed_text(upserts[rows[0]][1]) for rows in new_rows.values()]
        cb = (lambda d, t: progress("embedding", d, t)) if progress is not None else None
        if embedder is not None:
            embedded = np.asarray(embedder(texts, info=info, progress=cb, cancel=cancel), dtype=np.float32)
            stats.encoder = str(getattr(embedder, "path_name", "custom"))
            if embedded.shape != (len(texts), info.dim):
                raise RagError(f"the embedder returned {embedded.shape} vectors for {len(texts)} texts of "
                                        f"dimension {info.dim}; nothing was published")
        else:
            enc = encoder if encoder is not None else _document_encoder(info, len(texts), stats)
            stats.encoder = enc.path_name
            embedded = enc.encode(texts, progress=cb, cancel=cancel)
        if cb is not None:
            cb(len(texts), len(texts))
        for rows, vec in zip(new_rows.values(), embedded):
            vectors[rows] = vec
        stats.embedded = sum(len(r) for r in new_rows.values())
    stats.reused = total - stats.embedded
    if cancel is not None and cancel.is_set():
        from rag.embedding.document_encoder import BuildCancelled

        raise BuildCancelled("build cancelled; the previous index is unchanged")

    if progress is not None:
        progress("writing", 0, 1)
    tokens = tokenize_many([indexed_text(p) for _, p in upserts])
    writer.delete(deletes)
    writer.upsert(Record(k, vectors[i], tokens[i], passage_payload(p)) for i, (k, p) in enumerate(upserts))
    prev_meta = writer.meta
    calibration = prev_meta.get("calibration") if _same_model(prev_meta, info) else None
    refit = needs_refit(calibration, total)
    if calibration is not None and not refit:
        meta = {**meta, "calibration": calibration}  # the corpus changed little: the fit still holds
    writer.set_meta({
        "rag_version": __version__,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - t0, 3),
        "model": {**info.to_json(), "stamp": _stamp_or_none(info)},
        "encoder": stats.encoder or prev_meta.get("encoder", ""),
        "counts": {"files": len(meta["files"]), "passages": total, "dim": info.dim},
        "bm25": {"k1": BM25_K1, "b": BM25_B, "method": "lucene", "tokenizer": "en-stopwords+snowball"},
        **meta,
    })
    after = writer.count() - len(deletes) + len(upserts)  # deleted keys exist; upserted ones are new
    if after != total:
        raise IndexCorruptError(f"the index would hold {after} passages after this build, not {total}; "
                                f"{store.REBUILD_HINT}")
    if refit:
        calibrate_staged(writer, info, encoder, enc)
    writer.commit()
    if progress is not None:
        progress("writing", 1, 1)


def _calibration_stale(manifest: dict) -> bool:
    """Whether the confidence model stored in ``manifest`` was fitted by an older calibration (then an
    update without changed files still publishes a version with a new fit). Only the version counts
    here, not :func:`rag.indexing.calibration.needs_refit`'s corpus movement: a corpus too small to fit keeps
    the default model, and would otherwise publish a new version at every update."""
    passages = int(manifest.get("counts", {}).get("passages", 0))
    cal = manifest.get("calibration")
    return passages > 0 and (not isinstance(cal, dict) or cal.get("version") != confidence.CALIBRATION_VERSION)


def calibrate_staged(writer: IndexWriter, info: ModelInfo, encoder, loaded=None) -> None:
    """Fit the confidence model (rag.indexing.calibration) on the version the build is about to publish
    (the writer's staged view: the first fit, or the corpus moved enough) and record it in that
    version's metadata, so that one build publishes one version."""
    enc = encoder if encoder is not None else loaded if loaded is not None else _document_encoder(info, 1)
    encode = getattr(enc, "encode_queries", None) or enc.encode
    view = writer.staged()
    try:
        cal = calibrate(view, lambda texts: encode(texts))
    finally:
        view.close()
    writer.set_meta({**view.meta, "calibration": cal.to_json()})


# Which encoder embeds a build's new passages: one path, the ONNX Runtime export (fp32) from the
# user cache, for any number of passages; a BERT model missing there is exported first, from its
# weights without torch (about a second). It is also the query encoder, so passages and questions
# are embedded alike, and it was faster than sentence-transformers on 2 cores (500 seed-like
# passages, interleaved: 32.6 vs 19.1 passages per CPU second against torch bf16 autocast;
# bench/doc_embed_paths.py). sentence-transformers in process (DocumentEncoder) embeds only when
# there is no export: a model bert_graph does not build (exported with torch in the background),
# or a failed export. All paths agree to cosine >= 0.9999 (tests/test_embedding_paths.py).


def _document_encoder(info: ModelInfo, n_texts: int, stats: BuildStats | None = None):
    from rag.embedding.document_encoder import shared_document_encoder
    from rag.embedding.onnx_encoder import export_without_torch, load_export

    try:
        enc = load_export(Path(info.path), info)
        if enc is None and export_without_torch(info) is not None:  # a BERT: exported now, without torch
            enc = load_export(Path(info.path), info)
            if stats is not None:
                stats.exported_query_encoder = True
    except RagError:
        enc = None  # damaged or failed: the build's export step tries again (and warns)
    if enc is not None:
        return enc
    return shared_document_encoder(Path(info.path))


def _export_query_encoder(
    index_dir: Path, info: ModelInfo, mode, stats: BuildStats, progress: BuildProgress | None = None
) -> None:
    """Export the model for ONNX Runtime into the user cache if it is not there yet (once per model,
    shared by every index; several seconds). ``mode`` True: now, with the progress stage
    "exporting"; "background": in a detached low-priority process, so that nothing waits for it.
    Failure only costs speed: questions then use sentence-transformers in process."""
    from rag.embedding import onnx_encoder

    if not mode or onnx_encoder.export_is_current(info):
        return
    if mode == "background":
        from rag.embedding.encoder_cache import start_background_export

        try:
            start_background_export(info)
        except (OSError, RagError) as exc:
            stats.warnings.append(f"could not start the query-encoder export ({exc}); `rag index` will do it")
        return
    if progress is not None:
        progress("exporting", 0, 1)
    try:
        onnx_encoder.export(info)  # a BERT from its weights (no torch); another model loads torch
        stats.exported_query_encoder = True
    except RagError as exc:
        stats.warnings.append(f"{exc}; questions are encoded with sentence-transformers (slower to start)")
    finally:
        if progress is not None:
            progress("exporting", 1, 1)


def _same_model(manifest: dict, info: ModelInfo) -> bool:
    m = manifest.get("model", {})
    return (m.get("name") == info.name and m.get("weights_sha256") == info.weights_sha256 and m.get("dim") == info.dim
            and m.get("pooling", "mean") == info.pooling)


def _stamp_or_none(info: ModelInfo) -> dict | None:
    try:
        return weights_stamp(Path(info.path)) if info.path else None
    except (OSError, RagError):
        return None


def _ingest_params(info: ModelInfo, max_file_bytes: int) -> dict:
    return {
        "version": INGEST_VERSION,
        "max_tokens": info.max_tokens,
        "max_file_bytes": max_file_bytes,
        "bm25": [BM25_K1, BM25_B],
    }
