"""Which encoder embeds a build's new passages, and the query encoder's export after a build.

One path: the ONNX Runtime export from the user cache, for any number of passages, at the index's
precision (fp32, or int8 for passages: :mod:`rag.embedding.quantize`); a BERT model missing there is
exported first, from its weights without torch (a second or two). The fp32 export is also the query
encoder, and it was faster than
sentence-transformers on 2 cores (500 seed-like passages, interleaved: 32.6 vs 19.1 passages per
CPU second against torch bf16 autocast; bench/doc_embed_paths.py). sentence-transformers in
process (DocumentEncoder) embeds only when there is no export: a model bert_graph does not build
(exported with torch in the background), or a failed export. All paths agree to cosine >= 0.9999
(tests/test_embedding_paths.py).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rag.embedding import document_encoder, encoder_cache, onnx_encoder, onnx_export, quantize
from rag.embedding.model import ModelInfo
from rag.errors import RagError
from rag.indexing.hooks import BuildProgress
from rag.types import BuildStats


def passage_encoder(info: ModelInfo, stats: BuildStats | None = None):
    """The encoder of a build's new passages: the model's checked export at ``info.precision``
    (exported now for a BERT model, noted in ``stats``), else sentence-transformers in this process.
    An int8 index's encoder embeds passages with the int8 export and the confidence model's
    questions with the fp32 one (:class:`rag.embedding.quantize.Int8PassageEncoder`); without an int8
    export its passages are embedded in fp32 (a mix that scores as either)."""
    enc = _export(replace(info, precision="fp32"), stats)
    if enc is not None and info.precision == "int8":
        int8 = _export(info, stats)
        if int8 is not None:
            return quantize.Int8PassageEncoder(int8, enc)
    if enc is not None:
        return enc
    return document_encoder.shared_document_encoder(Path(info.path))


def _export(info: ModelInfo, stats: BuildStats | None):
    try:
        enc, exported = onnx_encoder.load_or_export(Path(info.path), info)
        if exported and stats is not None:
            stats.exported_query_encoder = True
        return enc
    except RagError:
        return None  # damaged or failed: the build's export step tries again (and warns)


def export_query_encoder(info: ModelInfo, mode: bool | str, stats: BuildStats,
                         progress: BuildProgress | None = None) -> None:
    """Export the model for ONNX Runtime into the user cache if it is not there yet (once per model,
    shared by every index; several seconds). ``mode`` True: now, with the progress stage
    "exporting"; "background": in a detached low-priority process, so that nothing waits for it.
    Failure only costs speed: questions then use sentence-transformers in process."""
    info = replace(info, precision="fp32")  # questions are embedded in fp32 whatever the passages' precision
    if not mode or encoder_cache.export_is_current(info):
        return
    if mode == "background":
        try:
            encoder_cache.start_background_export(info)
        except (OSError, RagError) as exc:
            stats.warnings.append(f"could not start the query-encoder export ({exc}); `rag index` will do it")
        return
    if progress is not None:
        progress("exporting", 0, 1)
    try:
        onnx_export.export(info)  # a BERT from its weights (no torch); another model loads torch
        stats.exported_query_encoder = True
    except RagError as exc:
        stats.warnings.append(f"{exc}; questions are encoded with sentence-transformers (slower to start)")
    finally:
        if progress is not None:
            progress("exporting", 1, 1)
