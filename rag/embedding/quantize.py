"""The int8 export of a BERT model: its graph (:mod:`rag.embedding.bert_graph`) with the weights of
its matrix products quantized to int8 by ONNX Runtime's dynamic quantization, per output channel
(activations are quantized on the fly with one scale per batch, so a passage's int8 vector depends a
little on its batch: cosine about 0.99 between two batchings of one text).

On a CPU with AVX-512 VNNI (or AVX2) ONNX Runtime runs these products in integer arithmetic: a build
embeds SciFact abstracts about twice as fast as with the fp32 export (issue 26; the figures and the retrieval quality in docs/indexing-profile.md). Vectors differ from
fp32 ones (cosine about 0.995). An index records the precision of its passages
(:attr:`rag.embedding.model.ModelInfo.precision`) and later builds keep it; questions are always
embedded in fp32 (:func:`rag.embedding.onnx_encoder.load_query_encoder`): int8 passages searched by
fp32 questions score as fp32 passages do on SciFact and CAsT (within 0.003 nDCG@10, dense and
hybrid), whereas int8 questions lose up to 0.004 (dense) and fp32 passages searched by int8
questions 0.005 (hybrid).

Quantizing every weight matrix per tensor loses too much (cosine 0.94); per output channel keeps
0.995. Keeping the feed-forward output products in fp32 (cosine 0.998) cost a third of the gain and
did not score better.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import ModelError

PRECISIONS = ("fp32", "int8")
INT8_MIN_COSINE = 0.98  # the int8 export against the fp32 graph on the export's probes
# A new index's passages: fp32. int8 builds 1.5-2x faster and keeps nDCG@10, but on the seed article's
# natural questions its answer rate is lower (83-88 % vs fp32's 83-96 % over five calibration draws:
# one "Answer" of 24 becomes "May not answer this"; docs/indexing-profile.md).
DEFAULT = "fp32"


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"embedding precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    return precision


def default_precision(model_dir: Path) -> str:
    """The precision of a new index's passages: ``RAG_PASSAGE_PRECISION`` (an environment variable,
    like ``RAG_MODEL``; "fp32" or "int8"), else :data:`DEFAULT`; int8 only where
    :mod:`rag.embedding.bert_graph` builds the model's graph (the quantization starts from it)."""
    from rag.embedding import bert_graph  # the graph builder (numpy-heavy, onnx inside): only when a graph is built

    try:
        wanted = check_precision(os.environ.get("RAG_PASSAGE_PRECISION") or DEFAULT)
    except ValueError as exc:
        raise ModelError(f"RAG_PASSAGE_PRECISION: {exc}") from None
    return wanted if wanted == "fp32" or bert_graph.supported(Path(model_dir)) else "fp32"


def quantize_int8(plain: Path, dst: Path) -> None:
    """Write ``dst``: the fp32 graph ``plain`` (weights beside it or inside) with its weight matrices
    int8, per output channel. Raises :class:`ModelError` when ONNX Runtime cannot."""
    from onnxruntime.quantization import QuantType, quantize_dynamic  # heavy: ONNX Runtime (~100 ms), only when a session is made or a model quantized

    try:
        with _quiet_root_logger():
            quantize_dynamic(str(plain), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                             extra_options={"MatMulConstBOnly": True})
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - the quantizer's failures are many and varied
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"could not quantize the model to int8 ({first})") from exc


class Int8PassageEncoder:
    """A build's encoder for an int8 index: passages through the int8 export, the confidence model's
    questions (``encode_queries``) through the fp32 one, as a search embeds them."""

    path_name = "onnxruntime"
    fallback_reason = ""

    def __init__(self, passages, questions) -> None:
        self.passages = passages
        self.questions = questions
        self.info = passages.info
        self.token_ends = questions.token_ends

    def encode(self, texts, progress=None, cancel=None):
        return self.passages.encode(texts, progress=progress, cancel=cancel)

    def encode_queries(self, texts):
        return self.questions.encode(texts)


class _DropRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """The quantizer logs advice ("consider pre-processing") on the root logger; a user's terminal is
    not the place for it. Only records logged on the root logger itself are held back, only meanwhile."""
    root = logging.getLogger()
    drop = _DropRecords()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)
