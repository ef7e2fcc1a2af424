"""A build's differences published as one new version: per re-read source, keys that vanished are
deleted and new keys upserted (a text the source had before keeps its stored vector; the rest is
embedded, each distinct text once); every passage of a source that is gone is deleted. The
confidence model is fitted on the staged version when it needs it (:func:`calibrate_staged`), so
that one build publishes one version."""

from __future__ import annotations

import threading

import numpy as np

from rag.documents.headers import indexed_text
from rag.documents.tokens import tokenize_many
from rag.embedding.document_encoder import BuildCancelled
from rag.embedding.model import ModelInfo
from rag.errors import IndexCorruptError, RagError
from rag.index import store
from rag.index.backend import IndexWriter, Record
from rag.index.passages_io import key_text_hash, passage_key, passage_payload, source_prefix
from rag.indexing.calibration import calibrate, needs_refit
from rag.indexing.encoders import passage_encoder
from rag.indexing.hooks import BuildProgress, Embedder, stage
from rag.indexing.manifest import same_model, version_meta
from rag.types import BuildStats, Passage


def embed_and_commit(
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
    embedder: Embedder | None = None,
) -> None:
    """Send the differences of ``by_source`` (the passages of each re-read source) and ``gone`` (the
    sources whose passages leave) to ``writer``, with the version's ``meta``, and commit. ``total``:
    the passages the version holds, checked before anything is published."""
    deletes, upserts, reuse = _differences(writer, by_source, gone, stats)
    vectors, loaded = _vectors(writer, upserts, reuse, info, encoder, stats, progress=progress, cancel=cancel,
                               embedder=embedder)
    stats.reused = total - stats.embedded
    if cancel is not None and cancel.is_set():
        raise BuildCancelled("build cancelled; the previous index is unchanged")

    if progress is not None:
        progress("writing", 0, 1)
    tokens = tokenize_many([indexed_text(p) for _, p in upserts])
    writer.delete(deletes)
    writer.upsert(Record(k, vectors[i], tokens[i], passage_payload(p)) for i, (k, p) in enumerate(upserts))
    prev_meta = writer.meta
    calibration = prev_meta.get("calibration") if same_model(prev_meta, info) else None
    refit = needs_refit(calibration, total)
    if calibration is not None and not refit:
        meta = {**meta, "calibration": calibration}  # the corpus changed little: the fit still holds
    writer.set_meta(version_meta(info, stats.encoder or prev_meta.get("encoder", ""), total, t0, meta))
    after = writer.count() - len(deletes) + len(upserts)  # deleted keys exist; upserted ones are new
    if after != total:
        raise IndexCorruptError(f"the index would hold {after} passages after this build, not {total}; "
                                f"{store.REBUILD_HINT}")
    if refit:
        calibrate_staged(writer, info, encoder, loaded)
    writer.commit()
    if progress is not None:
        progress("writing", 1, 1)


def _differences(writer: IndexWriter, by_source: dict[str, list[Passage]], gone: list[str],
                 stats: BuildStats) -> tuple[list[str], list[tuple[str, Passage]], dict[int, str]]:
    """The keys to delete, the ``(key, passage)`` pairs to upsert, and which upserts take the stored
    vector of an old key (upsert index -> that key); counts the removed passages in ``stats``."""
    deletes: list[str] = []
    upserts: list[tuple[str, Passage]] = []
    reuse: dict[int, str] = {}
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
    return deletes, upserts, reuse


def _vectors(writer: IndexWriter, upserts: list[tuple[str, Passage]], reuse: dict[int, str], info: ModelInfo,
             encoder, stats: BuildStats, *, progress: BuildProgress | None, cancel: threading.Event | None,
             embedder: Embedder | None):
    """One vector per upsert: the stored one for a text the source had; the rest embedded, each
    distinct text once. Returns them with the encoder that embedded them, if any (None for an
    ``embedder``, or when nothing was embedded)."""
    vectors = np.empty((len(upserts), info.dim), dtype=np.float32)
    if reuse:
        for i, v in zip(reuse, writer.vectors_of(list(reuse.values()))):
            vectors[i] = v
    new_rows: dict[str, list[int]] = {}
    enc = None
    for i, (_, p) in enumerate(upserts):
        if i not in reuse:
            new_rows.setdefault(p.hash, []).append(i)
    if not new_rows:
        return vectors, enc
    texts = [indexed_text(upserts[rows[0]][1]) for rows in new_rows.values()]
    cb = stage(progress, "embedding")
    if embedder is not None:
        embedded = np.asarray(embedder(texts, info=info, progress=cb, cancel=cancel), dtype=np.float32)
        stats.encoder = str(getattr(embedder, "path_name", "custom"))
        if embedded.shape != (len(texts), info.dim):
            raise RagError(f"the embedder returned {embedded.shape} vectors for {len(texts)} texts of "
                           f"dimension {info.dim}; nothing was published")
    else:
        enc = encoder if encoder is not None else passage_encoder(info, stats)
        stats.encoder = enc.path_name
        embedded = enc.encode(texts, progress=cb, cancel=cancel)
    if cb is not None:
        cb(len(texts), len(texts))
    for rows, vec in zip(new_rows.values(), embedded):
        vectors[rows] = vec
    stats.embedded = sum(len(r) for r in new_rows.values())
    return vectors, enc


def calibrate_staged(writer: IndexWriter, info: ModelInfo, encoder, loaded=None) -> None:
    """Fit the confidence model (rag.indexing.calibration) on the version the build is about to publish
    (the writer's staged view: the first fit, or the corpus moved enough) and record it in that
    version's metadata, so that one build publishes one version. ``encoder``: the build's given
    encoder; else ``loaded`` (the one the build loaded), else the model's :func:`passage_encoder`."""
    enc = encoder if encoder is not None else loaded if loaded is not None else passage_encoder(info)
    encode = getattr(enc, "encode_queries", None) or enc.encode
    view = writer.staged()
    try:
        cal = calibrate(view, lambda texts: encode(texts))
    finally:
        view.close()
    writer.set_meta({**view.meta, "calibration": cal.to_json()})
