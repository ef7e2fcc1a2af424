"""Building and updating an index: only passages with new content are embedded.

``build_index(seeds, index)`` walks the seeds folder, reuses the passages of files whose content is
unchanged (:mod:`rag.documents.changes` decides, by stamp and then hash), re-reads the others, reuses the stored vector of every passage
whose content hash is already known, embeds the rest, and publishes the new version atomically.
When no content changed it publishes nothing and returns at once, without loading the model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from rag.version import __version__
from rag.index import store
from rag.documents.changes import clear_stamps, detect_changes, load_stamps, save_stamps
from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError, RagError, SeedsError
from rag.documents.chunking import chunk
from rag.documents.files import iter_seed_files
from rag.documents.ingest import INGEST_VERSION, MAX_FILE_BYTES, read_seed
from rag.index.lexical import BM25_B, BM25_K1
from rag.embedding.model import ModelInfo, default_model_dir, model_info, weights_stamp
from rag.index.passages_io import read_passages, write_passages
from rag.types import BuildStats, Passage, Skipped


# progress(stage, done, total): stage is "reading", "embedding", "writing" or "exporting" (the
# query encoder for ONNX Runtime, once per model).
BuildProgress = Callable[[str, int, int], None]


@dataclass(slots=True)
class Previous:
    """The current version of an index, as far as a build can reuse it."""

    manifest: dict
    passages: list[Passage]
    vectors: np.ndarray  # memory-mapped, rows line up with passages
    by_hash: dict[str, int]


def load_previous(index_dir: Path, info: ModelInfo) -> tuple[Previous | None, str | None]:
    """The reusable current version, or ``(None, why)`` when there is none or it cannot be reused."""
    try:
        version, manifest = store.open_current(index_dir)
    except IndexMissingError:
        return None, None
    except (IndexCorruptError, IndexMismatchError) as exc:
        return None, f"the existing index is not reusable ({exc}); building from scratch"
    m = manifest.get("model", {})
    if m.get("name") != info.name or m.get("weights_sha256") != info.weights_sha256 or m.get("dim") != info.dim:
        return None, f"the existing index was built with another model ({m.get('name')}); building from scratch"
    try:
        n = int(manifest["counts"]["passages"])
        passages = read_passages(version, n)
        vectors = np.load(version / store.VECTORS, mmap_mode="r", allow_pickle=False)
        if vectors.shape != (n, info.dim):
            raise IndexCorruptError(f"vectors have shape {vectors.shape}")
    except (RagError, OSError, ValueError, KeyError) as exc:
        return None, f"the existing index is not reusable ({exc}); building from scratch"
    by_hash = {}
    for i, p in enumerate(passages):
        by_hash.setdefault(p.hash, i)
    return Previous(manifest, passages, vectors, by_hash), None


def _current_model_info(model_dir: Path, prev_manifest: dict | None) -> ModelInfo:
    """Model identity; the weights hash is taken from the manifest when the file is unchanged."""
    if prev_manifest:
        m = prev_manifest.get("model", {})
        if m.get("path") == str(model_dir) and m.get("stamp") == weights_stamp(model_dir):
            info = model_info(model_dir, with_hash=False)
            return replace(info, weights_sha256=m.get("weights_sha256", ""))
    return model_info(model_dir)


def _manifest_if_any(index_dir: Path) -> dict | None:
    try:
        return store.open_current(index_dir)[1]
    except RagError:
        return None


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
) -> BuildStats:
    """Build or update the index at ``index`` from the documents under ``seeds``.

    ``encoder`` is any :class:`rag.embedding.document_encoder.Encoder`; by default the bundled model
    (see :func:`_document_encoder`), loaded only if some passage needs embedding. With the default
    encoder and ``export_query_encoder``, the model is also exported once for ONNX Runtime into the
    user cache (:mod:`rag.embedding.onnx_encoder`), the fast query encoder: at the end of the build
    (True), or in a detached process that nothing waits for (``"background"``: a first run).
    """
    t0 = time.perf_counter()
    seeds = Path(seeds)
    index_dir = Path(index)
    files, walk_skipped = iter_seed_files(seeds)  # SeedsError when the folder is missing
    with store.BuildLock(index_dir, wait=lock_wait):
        store.clean_stale(index_dir)
        prev_manifest = None if rebuild else _manifest_if_any(index_dir)
        if encoder is not None:
            info = encoder.info
        else:
            mdir = Path(model_dir) if model_dir is not None else default_model_dir()
            info = _current_model_info(mdir, prev_manifest)
        stats = BuildStats(index_dir=index_dir)

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
        if basis and not ch:
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
            return stats
        fresh = set(ch.added) | set(ch.modified)
        unchanged = [f for f in files if f.source not in fresh]
        to_read = [f for f in files if f.source in fresh]

        prev, why = (None, None) if rebuild else load_previous(index_dir, info)
        if why:
            stats.warnings.append(why)
        if prev is None:
            to_read = sorted(unchanged + to_read, key=lambda f: f.source)
            unchanged = []

        # Passages of unchanged files come from the previous version, in file order.
        prev_by_source: dict[str, list[Passage]] = {}
        if prev is not None:
            for p in prev.passages:
                prev_by_source.setdefault(p.source, []).append(p)

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
                by_source[f.source] = prev_by_source.get(f.source, [])
            else:
                skipped_meta[f.source] = {**prev_skipped[f.source], **stamp}
                stats.skipped.append(Skipped(f.source, prev_skipped[f.source].get("reason", "")))
        limit = info.max_tokens - 2  # [CLS] and [SEP]
        for i, f in enumerate(to_read, start=1):
            r = read_seed(f, max_bytes=max_file_bytes)
            if progress is not None:
                progress("reading", i, len(to_read))
            if r.skip:
                stats.skipped.append(Skipped(f.source, r.skip))
                if r.size or r.mtime_ns:
                    skipped_meta[f.source] = {"reason": r.skip, **r.stamp(), "sha256": r.sha256 or None}
                continue
            if r.warning:
                stats.warnings.append(f"{f.source}: {r.warning}")
            ps = chunk(r.document, token_ends=token_ends, max_tokens=limit)
            if not ps:
                stats.skipped.append(Skipped(f.source, "no text"))
                skipped_meta[f.source] = {"reason": "no text", **r.stamp(), "sha256": r.sha256}
                continue
            by_source[f.source] = ps
            files_meta[f.source] = {
                "sha256": r.sha256,
                **r.stamp(),
                "passages": len(ps),
                "encoding_warning": r.warning,
            }
        stats.skipped.sort(key=lambda k: k.source)

        passages = [p for src in sorted(by_source) for p in by_source[src]]
        if not passages:
            raise SeedsError(
                f"no readable .txt or .md files in {seeds}: add some and run `rag index` again"
                + (f" ({len(stats.skipped)} skipped)" if stats.skipped else "")
            )
        _embed_and_publish(
            index_dir,
            passages,
            prev,
            info,
            encoder,
            stats,
            progress=progress,
            cancel=cancel,
            dense_kind=dense_kind,
            t0=t0,
            manifest_extra={
                "seeds_root": str(seeds.resolve()),
                "ingest": _ingest_params(info, max_file_bytes),
                "files": files_meta,
                "skipped_files": dict(sorted(skipped_meta.items())),
            },
        )
        clear_stamps(index_dir)  # the new manifest records every file's stamp
        if encoder is None:
            _export_query_encoder(index_dir, info, export_query_encoder, stats, progress)
        stats.files = len(files_meta)
        stats.passages = len(passages)
        stats.seconds = time.perf_counter() - t0
        return stats


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
    with store.BuildLock(index_dir):
        store.clean_stale(index_dir)
        prev_manifest = _manifest_if_any(index_dir)
        if encoder is not None:
            info = encoder.info
        else:
            mdir = Path(model_dir) if model_dir is not None else default_model_dir()
            info = _current_model_info(mdir, prev_manifest)
        stats = BuildStats(index_dir=index_dir)
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
        prev, why = load_previous(index_dir, info)
        if why:
            stats.warnings.append(why)
        _embed_and_publish(
            index_dir, passages, prev, info, encoder, stats, progress=progress, cancel=None,
            dense_kind=dense_kind, t0=t0,
            manifest_extra={"seeds_root": "", "ingest": ingest, "files": corpus, "skipped_files": {}},
        )
        if encoder is None:
            _export_query_encoder(index_dir, info, export_query_encoder, stats, progress)
        stats.files = len(corpus)
        stats.passages = len(passages)
        stats.seconds = time.perf_counter() - t0
        return stats


def _embed_and_publish(
    index_dir: Path,
    passages: list[Passage],
    prev: Previous | None,
    info: ModelInfo,
    encoder,
    stats: BuildStats,
    *,
    progress: BuildProgress | None,
    cancel: threading.Event | None,
    dense_kind: str,
    t0: float,
    manifest_extra: dict,
):
    """Reuse vectors by content hash, embed the rest, build BM25 and FAISS, publish atomically.

    """
    if prev is not None:
        kept_hashes = {p.hash for p in passages}
        stats.removed = sum(1 for p in prev.passages if p.hash not in kept_hashes)

    # Vectors: reuse by content hash, embed the new ones (each distinct text once).
    dim = info.dim
    vectors = np.empty((len(passages), dim), dtype=np.float32)
    new_rows: dict[str, list[int]] = {}
    for i, p in enumerate(passages):
        j = prev.by_hash.get(p.hash) if prev is not None else None
        if j is not None:
            vectors[i] = prev.vectors[j]
            stats.reused += 1
        else:
            new_rows.setdefault(p.hash, []).append(i)
    if new_rows:
        texts = [passages[rows[0]].text for rows in new_rows.values()]
        enc = encoder if encoder is not None else _document_encoder(info, len(texts))
        stats.encoder = enc.path_name
        cb = (lambda d, t: progress("embedding", d, t)) if progress is not None else None
        embedded = enc.encode(texts, progress=cb, cancel=cancel)
        if cb is not None:
            cb(len(texts), len(texts))
        for rows, vec in zip(new_rows.values(), embedded):
            vectors[rows] = vec
        stats.embedded = sum(len(r) for r in new_rows.values())
    if cancel is not None and cancel.is_set():
        from rag.embedding.document_encoder import BuildCancelled

        raise BuildCancelled("build cancelled; the previous index is unchanged")

    if progress is not None:
        progress("writing", 0, 1)
    from rag.index.dense import DenseIndex
    from rag.index.lexical import BM25Index
    from rag.documents.tokens import tokenize_many

    bm25 = BM25Index.build(tokenize_many([p.text for p in passages]))
    dense = DenseIndex.build(vectors, kind=dense_kind)

    def write(folder: Path) -> dict:
        write_passages(folder, passages)
        np.save(folder / store.VECTORS, vectors, allow_pickle=False)
        dense.save(folder)
        bm25.save(folder)
        return {
            "format": store.FORMAT,
            "format_version": store.FORMAT_VERSION,
            "rag_version": __version__,
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "build_seconds": round(time.perf_counter() - t0, 3),
            "model": {**info.to_json(), "stamp": _stamp_or_none(info)},
            "encoder": stats.encoder or (prev.manifest.get("encoder") if prev else ""),
            "counts": {"files": len(manifest_extra["files"]), "passages": len(passages), "dim": dim},
            "dense": {"kind": dense.kind},
            "bm25": {"k1": BM25_K1, "b": BM25_B, "method": "lucene", "tokenizer": "en-stopwords+snowball"},
            **manifest_extra,
        }

    store.publish(index_dir, write)
    if progress is not None:
        progress("writing", 1, 1)


# Which encoder embeds a build's new passages (all give the same vectors to cosine >= 0.9999,
# tests/test_embedding_paths.py): up to SMALL_EMBED new passages (a note or two added) go through the
# ONNX Runtime export (fp32) when the user cache holds it, since loading torch would cost more than
# the embedding; more, or any number without the export, through sentence-transformers
# (DocumentEncoder: bf16 on CPUs with native bf16, else fp32), loaded once per process.
SMALL_EMBED = 64


def _document_encoder(info: ModelInfo, n_texts: int):
    from rag.embedding.document_encoder import shared_document_encoder

    if n_texts <= SMALL_EMBED:
        from rag.embedding.onnx_encoder import load_export

        try:
            enc = load_export(Path(info.path), info)
        except RagError:
            enc = None  # damaged: the build's export step writes it again
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
        from rag.embedding.document_encoder import shared_document_encoder

        onnx_encoder.export(info, shared_document_encoder(Path(info.path)).sentence_transformer())
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
