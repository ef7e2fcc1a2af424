"""The encoder on ONNX Runtime, for passages and questions: the model is exported once per model
into the user's cache folder (:mod:`rag.embedding.encoder_cache`), shared by every index.

* :func:`export` writes ``<cache>/encoders/<weights sha256[:16]>-<pooling>.onnx`` (the transformer
  with the pooling the model folder declares, :mod:`rag.embedding.pooling`, and normalization),
  graph-optimized by ONNX Runtime, with its weights in ``<same>.onnx.data`` beside it (ONNX Runtime
  maps that file: session creation 0.07 s of CPU), and, last, a sidecar JSON that records the
  file's size, checksum, the pooling and the reference vector of a probe string. A BERT model's
  graph is built from its weights by :mod:`rag.embedding.bert_graph`, without torch (about a
  second of CPU; tests check it against sentence-transformers), and kept only if the optimized
  graph agrees with the plain one on the probes. Any other model is exported by ``torch.onnx`` from
  the loaded ``SentenceTransformer`` (a build's end, or the detached job
  :mod:`rag.embedding.export_job`) and kept only if it agrees with ``SentenceTransformer.encode``.
  One exporter at a time per model (a lock file); writes are atomic.
* :class:`OnnxQueryEncoder` loads it with onnxruntime and ``tokenizers``; on load it encodes one
  probe and compares it with the recorded vector, so a damaged or mismatched file is refused.
* :func:`load_query_encoder` picks the encoder: ONNX Runtime where the export exists and passes its
  check (a missing BERT export is made on the spot), else sentence-transformers in this process
  (:class:`rag.embedding.document_encoder.TorchQueryEncoder`: same vectors, but a few seconds to
  load torch). Falling back is logged once as a warning on the ``rag.encoder`` logger.

ONNX Runtime is a hard dependency. Both encoders give the same vectors as sentence-transformers
(cosine >= 0.9999, tested).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import warnings
from pathlib import Path

import numpy as np

from rag.errors import ModelError
from rag.embedding.encoder_cache import ExportLock, encoder_paths
from rag.embedding.model import ModelInfo
from rag.embedding.pooling import read_pooling

log = logging.getLogger("rag.encoder")

OPSET = 17
MIN_COSINE = 0.9999
# Varied probes: short, long (truncated at the model's limit), accents, digits, symbols, CJK.
PROBES = (
    "How many participants and observers are expected in Sochi?",
    "a",
    "Ökonomie, café & naïve résumé: 42 × 7 = 294 (approx.) — see §3.1!",
    "量子コンピュータ は 何 ですか",
    " ".join(["mitochondrial dysfunction in aged neurons drives inflammation"] * 60),
)
_SESSION_LOCK = threading.Lock()


# --------------------------------------------------------------------------- query side


def _query_threads() -> int:
    """Two intra-op threads (with ONNX Runtime's default spinning): a SciFact question p50 5.7 ms,
    vs 7.2 ms on one thread or on two without spinning (300 questions interleaved, 2 cores). More
    threads only add hand-offs for a few dozen tokens. ``OMP_NUM_THREADS`` lowers it."""
    n = min(2, os.cpu_count() or 1)
    try:
        n = min(n, int(os.environ.get("OMP_NUM_THREADS", n)))
    except ValueError:
        pass
    return max(1, n)


def _parse_quietly(load, model_dir: str) -> None:
    """``load(model_dir)`` for its cache; a failure is left for the caller's own call to raise."""
    try:
        load(model_dir)
    except ModelError:
        pass  # word_pieces() below raises it again, in the caller's thread


PROGRESS_EVERY = 256  # texts between two progress reports of a document build


class OnnxQueryEncoder:
    """Questions to vectors with ONNX Runtime."""

    path_name = "onnxruntime"
    fallback_reason = ""  # always empty: this is the fast path

    def __init__(self, onnx_path: Path, model_dir: Path, info: ModelInfo, probe: tuple[str, list[float]] | None = None,
                 threads: int | None = None, spin: bool = True) -> None:
        from rag.embedding.model import word_pieces

        pieces = None
        try:
            import onnxruntime as ort

            # The tokenizer parses (holding the GIL) on another core while ONNX Runtime builds the
            # session (without it): 30-60 ms of a cold `rag ask` off the critical path.
            pieces = threading.Thread(target=_parse_quietly, args=(word_pieces, str(model_dir)), name="rag-tokenizer")
            pieces.start()
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads or _query_threads()
            so.inter_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            so.log_severity_level = 3
            if not spin:
                so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime's errors have no common base
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"cannot load the ONNX query encoder {onnx_path} ({first}); run `rag index`") from exc
        finally:
            if pieces is not None:
                pieces.join()
        # The process's shared tokenizer (no truncation: encode() truncates as tokenizers would).
        self._tokenizer = word_pieces(str(model_dir)).tokenizer
        self._specials = self._tokenizer.num_special_tokens_to_add(False)
        self.info = info
        self.model_dir = Path(model_dir)
        self.onnx_path = Path(onnx_path)
        self._static = None
        self._static_lock = threading.Lock()
        if probe is not None:
            text, ref = probe
            got = self.encode([text])[0]
            cos = float(np.dot(got, np.asarray(ref, dtype=np.float32)))
            if not cos >= MIN_COSINE:
                raise ModelError(f"the ONNX query encoder {onnx_path} disagrees with the model (cosine {cos:.6f}); "
                                 "run `rag index`")

    def token_ends(self, text: str) -> list[int]:
        from rag.embedding.model import word_pieces

        return word_pieces(str(self.model_dir)).token_ends(text)

    def static_vectors(self, texts: list[str]) -> np.ndarray:
        with self._static_lock:
            if self._static is None:
                from rag.embedding.static_vectors import StaticVectors

                self._static = StaticVectors.load(self.model_dir)
        return self._static(texts)

    def _encode_one(self, text: str):
        """The word-pieces of ``text`` with the model's special tokens, cut at its limit: what the
        tokenizer gives with ``enable_truncation(max_tokens)``, the same steps in the same order."""
        enc = self._tokenizer.encode(text, add_special_tokens=False)
        if len(enc.ids) > self.info.max_tokens - self._specials:
            enc.truncate(self.info.max_tokens - self._specials)
        return self._tokenizer.post_process(enc)

    def encode(self, texts: list[str], progress=None, cancel=None) -> np.ndarray:
        """Unit vectors of ``texts``, longest first in batches of 32; ``progress(done, total)`` about
        every :data:`PROGRESS_EVERY` texts; ``cancel`` (an Event) checked between batches."""
        texts = list(texts)
        out = np.empty((len(texts), self.info.dim), dtype=np.float32)
        if not texts:
            return out
        encs = [self._encode_one(t) for t in texts]  # not encode_batch: no tokenizers thread pool
        lengths = [len(e.ids) for e in encs]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        batch = 32
        done = 0
        for start in range(0, len(order), batch):
            if cancel is not None and cancel.is_set():
                from rag.embedding.document_encoder import BuildCancelled

                raise BuildCancelled("build cancelled; the previous index is unchanged")
            idx = order[start : start + batch]
            width = lengths[idx[0]]
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, j in enumerate(idx):
                ids[row, : lengths[j]] = encs[j].ids
                mask[row, : lengths[j]] = 1
            (vecs,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
            out[idx] = vecs
            done += len(idx)
            if progress is not None and (done % PROGRESS_EVERY < batch or done == len(texts)):
                progress(done, len(texts))
        return out


def load_query_encoder(model_dir: Path, info: ModelInfo):
    """The query encoder for this model: ONNX Runtime when the user cache holds a checked export of
    it (a BERT model missing there is exported now, without torch), else sentence-transformers in this process (one warning on ``rag.encoder`` saying why;
    ``fallback_reason`` holds it). `rag index` writes a missing or damaged export again."""
    from rag.embedding.document_encoder import TorchQueryEncoder

    try:
        enc = load_export(model_dir, info)
        if enc is None and export_without_torch(info) is not None:  # a BERT: about a second, no torch
            enc = load_export(model_dir, info)
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


def data_path(onnx_path: Path) -> Path:
    """The weights file beside an export (``<key>.onnx.data``), named inside the graph."""
    return onnx_path.with_name(onnx_path.name + ".data")


def load_export(model_dir: Path, info: ModelInfo, threads: int | None = None) -> OnnxQueryEncoder | None:
    """The checked export of this model from the user cache; None when there is none (or only a
    sidecar-less, unfinished file). Raises :class:`ModelError` when it is there but unusable.
    ``threads``: intra-op threads of a session made now (default :func:`_query_threads`); a session
    already loaded in this process is shared as it is."""
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
            _LOADED.clear()
            _LOADED[key] = enc
        return enc


_LOADED: dict[tuple, OnnxQueryEncoder] = {}


# --------------------------------------------------------------------------- build side


def export_is_current(info: ModelInfo) -> bool:
    """True when the export for this model exists with the size and mtime its sidecar recorded
    (cheap enough for a no-change build; the loader's probe check catches damaged content)."""
    onnx_path, meta_path = encoder_paths(info)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        st = onnx_path.stat()
        if "data_bytes" in meta:
            ds = data_path(onnx_path).stat()
            if (ds.st_size, ds.st_mtime_ns) != (int(meta["data_bytes"]), int(meta["data_mtime_ns"])):
                return False
        return (meta.get("weights_sha256") == info.weights_sha256
                and meta.get("pooling", "mean") == read_pooling(Path(info.path)).mode
                and (st.st_size, st.st_mtime_ns) == (int(meta["onnx_bytes"]), int(meta["onnx_mtime_ns"])))
    except (OSError, ValueError, KeyError, TypeError, ModelError):
        return False


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
    from rag.embedding import bert_graph

    if bert_graph.supported(Path(info.path)):
        return _export_graph_locked(info)
    if st_model is None:
        from rag.embedding.document_encoder import shared_document_encoder

        st_model = shared_document_encoder(Path(info.path)).sentence_transformer()
    return _export_torch_locked(info, st_model)


def export_without_torch(info: ModelInfo) -> Path | None:
    """Export this model now if :mod:`rag.embedding.bert_graph` can build its graph (about a second,
    no torch); None for a model it cannot (that one is exported with torch, in the background).
    Raises :class:`ModelError` when the export fails."""
    from rag.embedding import bert_graph

    if not bert_graph.supported(Path(info.path)):
        return None
    with ExportLock(info, wait=True):
        if export_is_current(info):
            return encoder_paths(info)[0]
        return _export_graph_locked(info)


def _export_graph_locked(info: ModelInfo) -> Path:
    """The export of a BERT model built by :mod:`rag.embedding.bert_graph` (no torch).

    The in-memory graph is optimized by ONNX Runtime, which saves it (weights in ``.onnx.data``).
    Checks before the sidecar is written: the saved graph's vectors for :data:`PROBES` agree with
    the unoptimized graph's, run with every optimization off (a fusion that changes the numbers is
    caught here); the graph itself matches sentence-transformers (tests/test_bert_graph.py)."""
    import onnxruntime as ort

    from rag.embedding import bert_graph
    from rag.hashing import sha256_file

    pooling = read_pooling(Path(info.path))
    onnx_path, meta_path = encoder_paths(info)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    for old in onnx_path.parent.glob(f".tmp-*-{onnx_path.stem}.*"):  # what killed exports of this model left
        old.unlink(missing_ok=True)  # (safe: the lock is held, so no other exporter of it is running)
    tmp_graph = onnx_path.with_name(f".tmp-{os.getpid()}-opt-{onnx_path.name}")
    tmp_plain = onnx_path.with_name(f".tmp-{os.getpid()}-plain-{onnx_path.name}")
    tmp_raw = data_path(tmp_plain)
    data = data_path(onnx_path)
    touched = done = False
    try:
        with open(tmp_raw, "wb") as f:
            model = bert_graph.build_model(Path(info.path), pooling, data=f, data_name=tmp_raw.name)
        tmp_plain.write_bytes(model.SerializeToString())  # the graph only: its weights are in tmp_raw
        del model
        meta_path.unlink(missing_ok=True)  # an old sidecar must never vouch for the new files
        touched = True
        optimize_to_external_data(tmp_plain, tmp_graph, data.name)
        plain = _plain_session(tmp_plain)
        onnx_enc = OnnxQueryEncoder(tmp_graph, Path(info.path), info, spin=False)
        probes = list(PROBES[:4])  # the short ones: the fusions do not depend on length
        got = np.vstack([onnx_enc.encode([t]) for t in probes])  # alone, unpadded
        ref = _run_plain(plain, onnx_enc, probes)  # one padded batch: the mask is exercised
        cos = float((got * ref).sum(axis=1).min())
        if not cos >= MIN_COSINE:
            raise ModelError(f"the optimized ONNX graph disagrees with the plain one (min cosine {cos:.6f})")
        meta = {
            "weights_sha256": info.weights_sha256,
            "model": info.name,
            "opset": bert_graph.OPSET,
            "builder": "rag.embedding.bert_graph",
            "onnxruntime": ort.__version__,
            "onnx_bytes": tmp_graph.stat().st_size,
            "onnx_sha256": sha256_file(tmp_graph),
            "data_bytes": data.stat().st_size,
            "pooling": pooling.mode,
            "min_probe_cosine": cos,
            "probe": {"text": PROBES[0], "vector": [float(x) for x in ref[0]]},
        }
        _publish_export(data, tmp_graph, onnx_path, meta_path, meta)
        done = True
        return onnx_path
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnx / onnxruntime failures are many and varied
        raise _export_failed(exc) from exc
    finally:
        for t in (tmp_graph, tmp_plain, tmp_raw):
            t.unlink(missing_ok=True)
        if touched and not done:  # no sidecar vouches for it: nothing half written stays
            data.unlink(missing_ok=True)
            onnx_path.unlink(missing_ok=True)


def _plain_session(model_path: Path):
    """The graph as built, every ONNX Runtime optimization off: the reference for the saved one."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = _query_threads()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # one batch: spinning only burns CPU
    return ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])


def _run_plain(session, like: OnnxQueryEncoder, texts: list[str]) -> np.ndarray:
    """``session``'s vectors of ``texts`` (one padded batch), tokenized as ``like`` does."""
    encs = [like._encode_one(t) for t in texts]
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
    import torch

    from rag.embedding.document_encoder import pool
    from rag.hashing import sha256_file

    pooling = read_pooling(Path(info.path))
    transformer = st_model[0].auto_model
    onnx_path, meta_path = encoder_paths(info)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    for old in onnx_path.parent.glob(f".tmp-*-{onnx_path.stem}.*"):  # what killed exports of this model left
        old.unlink(missing_ok=True)  # (safe: the lock is held, so no other exporter of it is running)
    tmp = onnx_path.with_name(f".tmp-{os.getpid()}-{onnx_path.name}")
    tmp_graph = onnx_path.with_name(f".tmp-{os.getpid()}-opt-{onnx_path.name}")
    data = data_path(onnx_path)
    touched = done = False

    class Pooled(torch.nn.Module):
        def __init__(self, m) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            return pool(self.m, input_ids, attention_mask, pooling)

    try:
        ids = torch.ones(2, 16, dtype=torch.long)
        axes = {0: "batch", 1: "tokens"}
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's tracer warnings; the result is checked below
            torch.onnx.export(
                Pooled(transformer).eval(), (ids, torch.ones_like(ids)), str(tmp),
                input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "embedding": {0: "batch"}},
                opset_version=OPSET, dynamo=False,
            )
        meta_path.unlink(missing_ok=True)  # an old sidecar must never vouch for the new files
        touched = True
        optimize_to_external_data(tmp, tmp_graph, data.name)
        onnx_enc = OnnxQueryEncoder(tmp_graph, Path(info.path), info)
        ref = reference_vectors(st_model, list(PROBES))
        got = onnx_enc.encode(list(PROBES))
        cos = float((got * ref).sum(axis=1).min())
        if not cos >= MIN_COSINE:
            raise ModelError(f"the ONNX export disagrees with sentence-transformers (min cosine {cos:.6f})")
        meta = {
            "weights_sha256": info.weights_sha256,
            "model": info.name,
            "opset": OPSET,
            "torch": torch.__version__,
            "onnx_bytes": tmp_graph.stat().st_size,
            "onnx_sha256": sha256_file(tmp_graph),
            "data_bytes": data.stat().st_size,
            "data_sha256": sha256_file(data),
            "pooling": pooling.mode,
            "min_probe_cosine": cos,
            "probe": {"text": PROBES[0], "vector": [float(x) for x in ref[0]]},
        }
        _publish_export(data, tmp_graph, onnx_path, meta_path, meta)
        done = True
        return onnx_path
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - exporter failures are many and varied
        raise _export_failed(exc) from exc
    finally:
        tmp.unlink(missing_ok=True)
        tmp_graph.unlink(missing_ok=True)
        if touched and not done:  # no sidecar vouches for it: nothing half written stays
            data.unlink(missing_ok=True)
            onnx_path.unlink(missing_ok=True)


def optimize_to_external_data(src: Path | bytes, dst: Path, data_name: str) -> None:
    """Save ``src`` as ONNX Runtime optimizes it (the level that holds on any CPU: fused attention,
    GELU and layer norm) to ``dst``, its weights in ``data_name`` beside it."""
    import onnxruntime as ort

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
    import torch

    with torch.inference_mode(), torch.autocast("cpu", enabled=False):
        vecs = [st_model.encode([t], convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)[0]
                for t in texts]
    return np.asarray(vecs, dtype=np.float32)


def _export_failed(exc: BaseException) -> ModelError:
    """The one-line error of a failed export, naming the exporter's first line."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelError(f"could not export the query encoder for ONNX Runtime ({first})")


def _publish_export(data: Path, tmp_graph: Path, onnx_path: Path, meta_path: Path, meta: dict) -> None:
    """Make a written export visible: the weights and the graph synced, the graph renamed into
    place, then the sidecar written last (its presence means the export is complete)."""
    _fsync(data)
    _fsync(tmp_graph)
    os.replace(tmp_graph, onnx_path)
    meta["onnx_mtime_ns"] = onnx_path.stat().st_mtime_ns
    meta["data_mtime_ns"] = data.stat().st_mtime_ns
    tmp_meta = meta_path.with_name(f".tmp-{os.getpid()}-{meta_path.name}")
    tmp_meta.write_text(json.dumps(meta), encoding="utf-8")
    _fsync(tmp_meta)
    os.replace(tmp_meta, meta_path)
    _fsync(meta_path.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
