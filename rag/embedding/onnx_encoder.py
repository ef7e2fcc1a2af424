"""The encoder on ONNX Runtime, for passages and questions: the model is exported once per model
into the user's cache folder (:mod:`rag.embedding.encoder_cache`), shared by every index.

* :mod:`rag.embedding.onnx_export` writes the export (a BERT model without torch, any other through
  ``torch.onnx``), checked against the model before its sidecar vouches for it.
* :class:`rag.embedding.onnx_session.OnnxQueryEncoder` runs it with onnxruntime and ``tokenizers``;
  on load it encodes one probe and compares it with the recorded vector, so a damaged or mismatched
  file is refused.
* Here, :func:`load_export` loads the checked export of a model (one session per file in a
  process), and :func:`load_query_encoder` picks the encoder: ONNX Runtime where the export exists
  and passes its check (a missing BERT export is made on the spot), else sentence-transformers in
  this process (:class:`rag.embedding.document_encoder.TorchQueryEncoder`: same vectors, but a few
  seconds to load torch). Falling back is logged once as a warning on the ``rag.encoder`` logger.

ONNX Runtime is a hard dependency. Both encoders give the same vectors as sentence-transformers
(cosine >= 0.9999, tested).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import replace
from pathlib import Path

from rag.errors import ModelError
from rag.embedding.encoder_cache import data_path, encoder_paths
from rag.embedding.model import ModelInfo
from rag.embedding.onnx_export import export_without_torch
from rag.embedding.onnx_session import OnnxQueryEncoder
from rag.embedding.pooling import read_pooling

log = logging.getLogger("rag.encoder")

_SESSION_LOCK = threading.Lock()


def load_query_encoder(model_dir: Path, info: ModelInfo):
    """The query encoder for this model: ONNX Runtime when the user cache holds a checked export of
    it (a BERT model missing there is exported now, without torch), else sentence-transformers in
    this process (one warning on ``rag.encoder`` saying why; ``fallback_reason`` holds it).
    `rag index` writes a missing or damaged export again. Questions are embedded in fp32 whatever
    precision embedded the index's passages (``info.precision``): int8 passages searched by fp32
    questions score as fp32 ones do (issue 26, docs/indexing-profile.md), and a question is cheap."""
    from rag.embedding.document_encoder import TorchQueryEncoder  # its torch paths: only when the fallback or a cancel is needed (keeps the ONNX path light)

    info = replace(info, precision="fp32")

    try:
        enc, _ = load_or_export(model_dir, info)
    except ModelError as exc:
        reason = str(exc)
    else:
        if enc is not None:
            return enc
        reason = "the fast query encoder for this model is not exported yet; run `rag index`"
    log.warning("%s; questions are encoded with sentence-transformers meanwhile (slower to start)", reason)
    enc = TorchQueryEncoder(model_dir, info)
    enc.fallback_reason = reason
    return enc


def load_or_export(model_dir: Path, info: ModelInfo) -> tuple[OnnxQueryEncoder | None, bool]:
    """The checked export of this model and whether it was made now: a BERT model missing from the
    cache is exported on the spot, without torch (about a second); ``(None, False)`` for another
    model without an export. Raises :class:`ModelError` when an export is there but unusable, or
    exporting fails."""
    enc = load_export(model_dir, info)
    if enc is None and export_without_torch(info) is not None:
        return load_export(model_dir, info), True
    return enc, False


def load_export(model_dir: Path, info: ModelInfo, threads: int | None = None) -> OnnxQueryEncoder | None:
    """The checked export of this model from the user cache; None when there is none (or only a
    sidecar-less, unfinished file). Raises :class:`ModelError` when it is there but unusable.
    ``threads``: intra-op threads of a session made now (default
    :func:`rag.embedding.onnx_session.query_threads`); a session already loaded in this process is
    shared as it is."""
    onnx_path, meta_path = encoder_paths(info)
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        probe = (str(meta["probe"]["text"]), [float(x) for x in meta["probe"]["vector"]])
        if meta["weights_sha256"] != info.weights_sha256 or len(probe[1]) != info.dim:
            raise ValueError("it was exported from other weights")
        if onnx_path.stat().st_size != int(meta["onnx_bytes"]):
            raise ValueError("its size differs from the one recorded")
        if "data_bytes" in meta and data_path(onnx_path).stat().st_size != int(meta["data_bytes"]):
            raise ValueError("the size of its weights file differs from the one recorded")
        if meta.get("precision", "fp32") != info.precision:
            raise ValueError(f"it holds {meta.get('precision', 'fp32')} weights, not {info.precision}")
        if meta.get("pooling", "mean") != read_pooling(model_dir).mode:
            raise ValueError(f"it pools by {meta.get('pooling', 'mean')}, the model folder declares another pooling")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"the ONNX query encoder {onnx_path} is unusable ({exc}); run `rag index`") from None
    st = onnx_path.stat()
    key = (str(onnx_path), str(model_dir), info, st.st_size, st.st_mtime_ns)
    with _SESSION_LOCK:  # one session per export file in a process (a first build, then its questions)
        enc = _LOADED.get(key)
        if enc is None:
            enc = OnnxQueryEncoder(onnx_path, model_dir, info, probe=probe, threads=threads)
            for old in [k for k in _LOADED if k[0] == key[0]]:  # the same file as it was before: let go
                del _LOADED[old]
            _LOADED[key] = enc  # beside the other exports' (an int8 build holds the fp32 one for questions)
        return enc


_LOADED: dict[tuple, OnnxQueryEncoder] = {}
