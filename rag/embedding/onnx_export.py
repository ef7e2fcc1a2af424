"""Exporting a model for ONNX Runtime into the user cache (:mod:`rag.embedding.encoder_cache`).

:func:`export` writes ``<cache>/encoders/<weights sha256[:16]>-<pooling>.onnx`` (the transformer
with the pooling the model folder declares, :mod:`rag.embedding.pooling`, and normalization),
graph-optimized by ONNX Runtime, with its weights in ``<same>.onnx.data`` beside it (ONNX Runtime
maps that file: session creation 0.07 s of CPU), and, last, a sidecar JSON that records the file's
size, checksum, the pooling and the reference vector of a probe string. A BERT model's graph is
built from its weights by :mod:`rag.embedding.bert_graph`, without torch (about a second of CPU;
tests check it against sentence-transformers), and kept only if the optimized graph agrees with the
plain one on the probes. Any other model is exported by ``torch.onnx`` from the loaded
``SentenceTransformer`` (a build's end, or the detached job :mod:`rag.embedding.export_job`) and
kept only if it agrees with ``SentenceTransformer.encode``. One exporter at a time per model (a
lock file); writes are atomic.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.errors import ModelError
from rag.embedding import quantize
from rag.embedding.encoder_cache import ExportLock, data_path, encoder_paths, export_is_current
from rag.embedding.model import ModelInfo
from rag.embedding.onnx_session import MIN_COSINE, OnnxQueryEncoder, query_threads
from rag.embedding.pooling import Pooling, read_pooling
from rag.hashing import sha256_file

OPSET = 17
# Varied probes: short, long (truncated at the model's limit), accents, digits, symbols, CJK.
PROBES = (
    "How many participants and observers are expected in Sochi?",
    "a",
    "Ökonomie, café & naïve résumé: 42 × 7 = 294 (approx.) — see §3.1!",
    "量子コンピュータ は 何 ですか",
    " ".join(["mitochondrial dysfunction in aged neurons drives inflammation"] * 60),
)


def export(info: ModelInfo, st_model=None) -> Path:
    """Export the model of ``info`` with the folder's pooling and normalization for ONNX Runtime:
    a BERT model from its weights without torch (:mod:`rag.embedding.bert_graph`), any other from
    ``st_model`` (its loaded ``SentenceTransformer``; loaded here when None) through ``torch.onnx``,
    kept only if its vectors for :data:`PROBES` match ``st_model.encode`` in fp32 to cosine >=
    :data:`MIN_COSINE`. Raises :class:`ModelError` (the build goes on without it). When another
    process is exporting the same model, waits for it and keeps its result.
    """
    with ExportLock(info, wait=True):
        if export_is_current(info):
            return encoder_paths(info)[0]
        return export_locked(info, st_model)


def export_locked(info: ModelInfo, st_model=None) -> Path:
    """:func:`export`, for a caller that holds this model's :class:`ExportLock`. A BERT model
    (:func:`rag.embedding.bert_graph.supported`) is exported without torch (``st_model`` unused);
    any other through ``torch.onnx`` from ``st_model`` (loaded here when None)."""
    from rag.embedding import bert_graph  # the graph builder (numpy-heavy, onnx inside): only when a graph is built

    if bert_graph.supported(Path(info.path)):
        return _export_graph_locked(info)
    if info.precision != "fp32":
        raise ModelError(f"an {info.precision} export needs a model whose graph rag builds "
                         f"({bert_graph.unsupported_reason(Path(info.path))}); index it in fp32")
    if st_model is None:
        from rag.embedding.document_encoder import shared_document_encoder  # the torch export path only

        st_model = shared_document_encoder(Path(info.path)).sentence_transformer()
    return _export_torch_locked(info, st_model)


def export_without_torch(info: ModelInfo) -> Path | None:
    """Export this model now if :mod:`rag.embedding.bert_graph` can build its graph (about a second,
    no torch); None for a model it cannot (that one is exported with torch, in the background).
    Raises :class:`ModelError` when the export fails."""
    from rag.embedding import bert_graph  # the graph builder (numpy-heavy, onnx inside): only when a graph is built

    if not bert_graph.supported(Path(info.path)):
        return None
    with ExportLock(info, wait=True):
        if export_is_current(info):
            return encoder_paths(info)[0]
        return _export_graph_locked(info)


@dataclass
class _Staging:
    """One export being written, under the model's lock: its final paths, its temporary files (all
    removed at the end) and whether the old export was given up (then a failure removes it too)."""

    info: ModelInfo
    pooling: Pooling
    onnx_path: Path
    meta_path: Path
    temps: list[Path] = field(default_factory=list)
    replacing: bool = False

    @property
    def data(self) -> Path:
        return data_path(self.onnx_path)

    def temp(self, tag: str) -> Path:
        """A temporary file beside the export, removed at the end (``tag``: what it holds)."""
        path = self.onnx_path.with_name(f".tmp-{os.getpid()}-{tag}{self.onnx_path.name}")
        self.temps.append(path)
        return path

    def replace_old(self) -> None:
        """Give up the old export before the new files overwrite its weights: an old sidecar must
        never vouch for the new files."""
        self.meta_path.unlink(missing_ok=True)
        self.replacing = True

    def publish(self, graph: Path, got: np.ndarray, ref: np.ndarray, disagrees: str, meta: dict,
                min_cosine: float = MIN_COSINE) -> None:
        """Keep the optimized ``graph`` if its vectors ``got`` agree with the reference ``ref`` (one
        row per probe, to ``min_cosine``; else ModelError starting with ``disagrees``): the weights
        and the graph synced, the graph renamed into place, then the sidecar written last (its
        presence means the export is complete), recording ``meta`` and what every export records.
        The probe vector recorded is ``got``'s: the one a later load of this file must reproduce."""
        cos = float((got * ref).sum(axis=1).min())
        if not cos >= min_cosine:
            raise ModelError(f"{disagrees} (min cosine {cos:.6f})")
        meta = {
            "weights_sha256": self.info.weights_sha256,
            "model": self.info.name,
            **meta,
            "onnx_bytes": graph.stat().st_size,
            "onnx_sha256": sha256_file(graph),
            "data_bytes": self.data.stat().st_size,
            "pooling": self.pooling.mode,
            "min_probe_cosine": cos,
            "probe": {"text": PROBES[0], "vector": [float(x) for x in got[0]]},
        }
        _fsync(self.data)
        _fsync(graph)
        os.replace(graph, self.onnx_path)
        meta["onnx_mtime_ns"] = self.onnx_path.stat().st_mtime_ns
        meta["data_mtime_ns"] = self.data.stat().st_mtime_ns
        tmp_meta = self.meta_path.with_name(f".tmp-{os.getpid()}-{self.meta_path.name}")
        tmp_meta.write_text(json.dumps(meta), encoding="utf-8")
        _fsync(tmp_meta)
        os.replace(tmp_meta, self.meta_path)
        _fsync(self.meta_path.parent)


@contextmanager
def _staging(info: ModelInfo) -> Iterator[_Staging]:
    """Where one export is written (the caller holds the model's lock). A failure other than
    ModelError becomes one (:func:`_export_failed`); whatever way it ends, the temporary files go,
    and an export that replaced the old one without publishing leaves nothing half written."""
    onnx_path, meta_path = encoder_paths(info)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    for old in onnx_path.parent.glob(f".tmp-*-{onnx_path.stem}.*"):  # what killed exports of this model left
        old.unlink(missing_ok=True)  # (safe: the lock is held, so no other exporter of it is running)
    st = _Staging(info, read_pooling(Path(info.path)), onnx_path, meta_path)
    done = False
    try:
        yield st
        done = True
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnx, onnxruntime and exporter failures are many and varied
        raise _export_failed(exc) from exc
    finally:
        for t in st.temps:
            t.unlink(missing_ok=True)
        if st.replacing and not done:  # no sidecar vouches for it: nothing half written stays
            st.data.unlink(missing_ok=True)
            onnx_path.unlink(missing_ok=True)


def _export_graph_locked(info: ModelInfo) -> Path:
    """The export of a BERT model built by :mod:`rag.embedding.bert_graph` (no torch).

    The in-memory graph is optimized by ONNX Runtime, which saves it (weights in ``.onnx.data``).
    Checks before the sidecar is written: the saved graph's vectors for :data:`PROBES` agree with
    the unoptimized graph's, run with every optimization off (a fusion that changes the numbers is
    caught here); the graph itself matches sentence-transformers (tests/test_bert_graph.py)."""
    import onnxruntime as ort  # heavy: ONNX Runtime (~100 ms), only when a session is made or a model quantized

    from rag.embedding import bert_graph  # the graph builder (numpy-heavy, onnx inside): only when a graph is built

    with _staging(info) as st:
        tmp_graph, tmp_plain = st.temp("opt-"), st.temp("plain-")
        tmp_raw = data_path(tmp_plain)
        st.temps.append(tmp_raw)
        with open(tmp_raw, "wb") as f:
            model = bert_graph.build_model(Path(info.path), st.pooling, data=f, data_name=tmp_raw.name)
        tmp_plain.write_bytes(model.SerializeToString())  # the graph only: its weights are in tmp_raw
        del model
        st.replace_old()
        source, extra, min_cos = tmp_plain, {}, MIN_COSINE
        if info.precision == "int8":  # the plain graph's weights quantized, then optimized as any export
            source = st.temp("int8-")
            quantize.quantize_int8(tmp_plain, source)
            extra, min_cos = {"precision": "int8"}, quantize.INT8_MIN_COSINE
        optimize_to_external_data(source, tmp_graph, st.data.name)
        plain = _plain_session(tmp_plain)
        onnx_enc = OnnxQueryEncoder(tmp_graph, Path(info.path), info, spin=False)
        probes = list(PROBES[:4])  # the short ones: the fusions do not depend on length
        got = np.vstack([onnx_enc.encode([t]) for t in probes])  # alone, unpadded
        ref = _run_plain(plain, onnx_enc, probes)  # one padded batch: the mask is exercised
        st.publish(tmp_graph, got, ref, f"the optimized ONNX graph ({info.precision}) disagrees with the plain one",
                   {"opset": bert_graph.OPSET, "builder": "rag.embedding.bert_graph", "onnxruntime": ort.__version__,
                    **extra}, min_cosine=min_cos)
    return st.onnx_path


def _plain_session(model_path: Path):
    """The graph as built, every ONNX Runtime optimization off: the reference for the saved one."""
    import onnxruntime as ort  # heavy: ONNX Runtime (~100 ms), only when a session is made or a model quantized

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = query_threads()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # one batch: spinning only burns CPU
    return ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])


def _run_plain(session, like: OnnxQueryEncoder, texts: list[str]) -> np.ndarray:
    """``session``'s vectors of ``texts`` (one padded batch), tokenized as ``like`` does."""
    encs = [like.tokenize(t) for t in texts]
    width = max(len(e.ids) for e in encs)
    ids = np.zeros((len(encs), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, e in enumerate(encs):
        ids[row, : len(e.ids)] = e.ids
        mask[row, : len(e.ids)] = 1
    (v,) = session.run(None, {"input_ids": ids, "attention_mask": mask})
    return np.asarray(v, dtype=np.float32)


def _export_torch_locked(info: ModelInfo, st_model) -> Path:
    """The export of a model :mod:`rag.embedding.bert_graph` does not build, through ``torch.onnx``."""
    import torch  # heavy: torch (~1 s), only on the sentence-transformers paths (reference, fallback)

    from rag.embedding.document_encoder import pool  # the torch export path only

    transformer = st_model[0].auto_model

    class Pooled(torch.nn.Module):
        def __init__(self, m, pooling: Pooling) -> None:
            super().__init__()
            self.m = m
            self.pooling = pooling

        def forward(self, input_ids, attention_mask):
            return pool(self.m, input_ids, attention_mask, self.pooling)

    with _staging(info) as st:
        tmp, tmp_graph = st.temp(""), st.temp("opt-")
        ids = torch.ones(2, 16, dtype=torch.long)
        axes = {0: "batch", 1: "tokens"}
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's tracer warnings; the result is checked below
            torch.onnx.export(
                Pooled(transformer, st.pooling).eval(), (ids, torch.ones_like(ids)), str(tmp),
                input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "embedding": {0: "batch"}},
                opset_version=OPSET, dynamo=False,
            )
        st.replace_old()
        optimize_to_external_data(tmp, tmp_graph, st.data.name)
        onnx_enc = OnnxQueryEncoder(tmp_graph, Path(info.path), info)
        ref = reference_vectors(st_model, list(PROBES))
        got = onnx_enc.encode(list(PROBES))
        st.publish(tmp_graph, got, ref, "the ONNX export disagrees with sentence-transformers",
                   {"opset": OPSET, "torch": torch.__version__, "data_sha256": sha256_file(st.data)})
    return st.onnx_path


def optimize_to_external_data(src: Path | bytes, dst: Path, data_name: str) -> None:
    """Save ``src`` as ONNX Runtime optimizes it (the level that holds on any CPU: fused attention,
    GELU and layer norm) to ``dst``, its weights in ``data_name`` beside it."""
    import onnxruntime as ort  # heavy: ONNX Runtime (~100 ms), only when a session is made or a model quantized

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.optimized_model_filepath = str(dst)
    so.add_session_config_entry("session.optimized_model_external_initializers_file_name", data_name)
    so.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    ort.InferenceSession(src if isinstance(src, bytes) else str(src), so, providers=["CPUExecutionProvider"])


def reference_vectors(st_model, texts: list[str]):
    """What sentence-transformers itself gives for ``texts``: normalized fp32 vectors, one text at a
    time (no padding), without autocast. The reference every fast encoder must match."""
    import torch  # heavy: torch (~1 s), only on the sentence-transformers paths (reference, fallback)

    with torch.inference_mode(), torch.autocast("cpu", enabled=False):
        vecs = [st_model.encode([t], convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)[0]
                for t in texts]
    return np.asarray(vecs, dtype=np.float32)


def _export_failed(exc: BaseException) -> ModelError:
    """The one-line error of a failed export, naming the exporter's first line."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelError(f"could not export the query encoder for ONNX Runtime ({first})")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
