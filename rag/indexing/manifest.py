"""A version's manifest seen from a build: what it records about how the version was built (the
model's identity, the ingest settings, the confidence model) and whether a build can build on it."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from rag.documents.ingest import INGEST_VERSION
from rag.embedding.model import ModelInfo, default_model_dir, model_info, weights_stamp
from rag.embedding.quantize import check_precision, default_precision
from rag.errors import RagError
from rag.index import store
from rag.index.lexical import BM25_B, BM25_K1
from rag.index.store import read_manifest
from rag.search import confidence
from rag.version import __version__


def model_info_for(encoder, model_dir, prev_manifest: dict | None, precision: str | None = None) -> ModelInfo:
    """The identity of the model this build embeds with: the given encoder's, or the model folder's
    (``model_dir``, else the bundled model) at ``precision``; None: the precision the current version
    of this model was built with (its vectors stay comparable), else the default for a new index
    (:func:`rag.embedding.quantize.default_precision`)."""
    if encoder is not None:
        return encoder.info
    mdir = Path(model_dir) if model_dir is not None else default_model_dir()
    info = _folder_model_info(mdir, prev_manifest)
    if precision is None:
        m = (prev_manifest or {}).get("model", {})
        kept = same_model(prev_manifest, replace(info, precision=str(m.get("precision", "fp32")))) if m else False
        precision = str(m.get("precision", "fp32")) if kept else default_precision(mdir)
    return replace(info, precision=check_precision(precision))


def _folder_model_info(model_dir: Path, prev_manifest: dict | None) -> ModelInfo:
    """Model identity; the weights hash is taken from the manifest when the file is unchanged."""
    if prev_manifest:
        m = prev_manifest.get("model", {})
        if m.get("path") == str(model_dir) and m.get("stamp") == weights_stamp(model_dir):
            info = model_info(model_dir, with_hash=False)
            return replace(info, weights_sha256=m.get("weights_sha256", ""))
    return model_info(model_dir)


def current_meta(index_dir: Path) -> tuple[dict | None, str | None]:
    """The build metadata of the current version, or ``(None, why)`` when it cannot be read."""
    try:
        version = store.current_version(index_dir)
        if version is None:
            return None, None
        return dict(read_manifest(version).get("meta") or {}), None
    except RagError as exc:
        return None, f"the existing index is not reusable ({exc}); building from scratch"


def same_model(manifest: dict, info: ModelInfo) -> bool:
    """Whether the version of ``manifest`` was embedded by this model (weights, pooling and precision)."""
    m = manifest.get("model", {})
    return (m.get("name") == info.name and m.get("weights_sha256") == info.weights_sha256 and m.get("dim") == info.dim
            and m.get("pooling", "mean") == info.pooling and m.get("precision", "fp32") == info.precision)


def ingest_params(info: ModelInfo, max_file_bytes: int) -> dict:
    """What decides a file's passages besides its content: a build with other ones reads every file."""
    return {
        "version": INGEST_VERSION,
        "max_tokens": info.max_tokens,
        "max_file_bytes": max_file_bytes,
        "bm25": [BM25_K1, BM25_B],
    }


def calibration_stale(manifest: dict) -> bool:
    """Whether the confidence model stored in ``manifest`` was fitted by an older calibration (then an
    update without changed files still publishes a version with a new fit). Only the version counts
    here, not :func:`rag.indexing.calibration.needs_refit`'s corpus movement: a corpus too small to fit keeps
    the default model, and would otherwise publish a new version at every update."""
    passages = int(manifest.get("counts", {}).get("passages", 0))
    cal = manifest.get("calibration")
    return passages > 0 and (not isinstance(cal, dict) or cal.get("version") != confidence.CALIBRATION_VERSION)


def version_meta(info: ModelInfo, encoder_name: str, total: int, t0: float, meta: dict) -> dict:
    """The metadata of the version a build publishes: how and when it was built, with what, how
    much it holds, and the build's own ``meta`` (files, ingest settings, calibration)."""
    return {
        "rag_version": __version__,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - t0, 3),
        "model": {**info.to_json(), "stamp": _stamp_or_none(info)},
        "encoder": encoder_name,
        "counts": {"files": len(meta["files"]), "passages": total, "dim": info.dim},
        "bm25": {"k1": BM25_K1, "b": BM25_B, "method": "lucene", "tokenizer": "en-stopwords+snowball"},
        **meta,
    }


def _stamp_or_none(info: ModelInfo) -> dict | None:
    try:
        return weights_stamp(Path(info.path)) if info.path else None
    except (OSError, RagError):
        return None
