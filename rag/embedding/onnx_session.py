"""An exported model run with ONNX Runtime: :class:`OnnxQueryEncoder` turns questions (and a
build's passages) into unit vectors, tokenized with ``tokenizers`` as sentence-transformers does.

Given the probe its export recorded, it encodes that probe on load and compares the vector with
the recorded one, so a damaged or mismatched file is refused. Loading an export from the user cache
is :mod:`rag.embedding.onnx_encoder`'s job; writing one, :mod:`rag.embedding.onnx_export`'s.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from rag.errors import ModelError
from rag.embedding.model import ModelInfo, word_pieces

MIN_COSINE = 0.9999
PROGRESS_EVERY = 256  # texts between two progress reports of a document build
# Tokens in one batch (rows x the longest row), at most MAX_BATCH rows: batches of about 800 tokens
# keep a layer's activations in the CPU's caches. bench/speed/batching.py (SciFact passages, 2
# cores): fp32 passages 13-20 % faster than in batches of 32 rows, int8 0-20 % (two runs), short
# questions unchanged (issue 26; docs/indexing-profile.md).
BATCH_TOKENS = 768
MAX_BATCH = 64


def query_threads() -> int:
    """Two intra-op threads (with ONNX Runtime's default spinning): a SciFact question p50 5.7 ms,
    vs 7.2 ms on one thread or on two without spinning (300 questions interleaved, 2 cores). More
    threads only add hand-offs for a few dozen tokens. ``OMP_NUM_THREADS`` lowers it."""
    n = min(2, os.cpu_count() or 1)
    try:
        n = min(n, int(os.environ.get("OMP_NUM_THREADS", n)))
    except ValueError:
        pass
    return max(1, n)


def execution_providers(available: list[str], precision: str) -> list:
    """Where ONNX Runtime runs an export: on an NVIDIA GPU when this ONNX Runtime has CUDA (the
    ``onnxruntime-gpu`` package in place of ``onnxruntime``), with TF32 off so that vectors stay
    fp32's (the probe check on load refuses a session that disagrees); else, and for the int8
    export (its integer products are CPU kernels), on the CPU."""
    if precision == "fp32" and "CUDAExecutionProvider" in available:
        return [("CUDAExecutionProvider", {"use_tf32": "0"}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _parse_quietly(load, model_dir: str) -> None:
    """``load(model_dir)`` for its cache; a failure is left for the caller's own call to raise."""
    try:
        load(model_dir)
    except ModelError:
        pass  # word_pieces() below raises it again, in the caller's thread


class OnnxQueryEncoder:
    """Questions to vectors with ONNX Runtime."""

    path_name = "onnxruntime"
    fallback_reason = ""  # always empty: this is the fast path

    def __init__(self, onnx_path: Path, model_dir: Path, info: ModelInfo, probe: tuple[str, list[float]] | None = None,
                 threads: int | None = None, spin: bool = True) -> None:
        pieces = None
        try:
            import onnxruntime as ort  # heavy: ONNX Runtime (~100 ms), only when a session is made or a model quantized

            # The tokenizer parses (holding the GIL) on another core while ONNX Runtime builds the
            # session (without it): 30-60 ms of a cold `rag ask` off the critical path.
            pieces = threading.Thread(target=_parse_quietly, args=(word_pieces, str(model_dir)), name="rag-tokenizer")
            pieces.start()
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads or query_threads()
            so.inter_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            so.log_severity_level = 3
            if not spin:
                so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(str(onnx_path), so, providers=execution_providers(
                ort.get_available_providers(), info.precision))
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
        return word_pieces(str(self.model_dir)).token_ends(text)

    def static_vectors(self, texts: list[str]) -> np.ndarray:
        with self._static_lock:
            if self._static is None:
                from rag.embedding.static_vectors import StaticVectors  # the word-vector table: only when answer sentences are scored

                self._static = StaticVectors.load(self.model_dir)
        return self._static(texts)

    def tokenize(self, text: str):
        """The word-pieces of ``text`` with the model's special tokens, cut at its limit: what the
        tokenizer gives with ``enable_truncation(max_tokens)``, the same steps in the same order."""
        enc = self._tokenizer.encode(text, add_special_tokens=False)
        if len(enc.ids) > self.info.max_tokens - self._specials:
            enc.truncate(self.info.max_tokens - self._specials)
        return self._tokenizer.post_process(enc)

    def encode(self, texts: list[str], progress=None, cancel=None, *, batch_tokens: int = BATCH_TOKENS,
               max_rows: int = MAX_BATCH) -> np.ndarray:
        """Unit vectors of ``texts``, longest first in batches of about ``batch_tokens`` tokens
        (padding included; one text alone at least), ``max_rows`` at most; ``progress(done, total)`` about
        every :data:`PROGRESS_EVERY` texts; ``cancel`` (an Event) checked between batches."""
        texts = list(texts)
        out = np.empty((len(texts), self.info.dim), dtype=np.float32)
        if not texts:
            return out
        # Word-piece ids only, as int32 (not encode_batch: no tokenizers thread pool): a tokenizer's
        # Encoding holds offsets, tokens and masks too, 6.3 KB for a passage of 36 word pieces, so
        # 0.6 GB for 100,000 such passages waiting for their batch (issue 26's 100,000-passage build).
        pieces = [np.array(self.tokenize(t).ids, dtype=np.int32) for t in texts]
        lengths = [len(p) for p in pieces]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        done = 0
        for idx in _batches(order, lengths, batch_tokens, max_rows):
            if cancel is not None and cancel.is_set():
                from rag.embedding.document_encoder import BuildCancelled  # its torch paths: only when the fallback or a cancel is needed (keeps the ONNX path light)

                raise BuildCancelled("build cancelled; the previous index is unchanged")
            width = lengths[idx[0]]
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, j in enumerate(idx):
                ids[row, : lengths[j]] = pieces[j]
                mask[row, : lengths[j]] = 1
            (vecs,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
            out[idx] = vecs
            done += len(idx)
            if progress is not None and (done // PROGRESS_EVERY > (done - len(idx)) // PROGRESS_EVERY
                                         or done == len(texts)):
                progress(done, len(texts))
        return out


def _batches(order: list[int], lengths: list[int], batch_tokens: int, max_rows: int) -> list[list[int]]:
    """``order`` (longest first) cut into batches whose rows x first (longest) length stay within
    ``batch_tokens``, at most ``max_rows`` rows."""
    out: list[list[int]] = []
    for j in order:
        if not out or len(out[-1]) >= max_rows or (len(out[-1]) + 1) * lengths[out[-1][0]] > batch_tokens:
            out.append([j])
        else:
            out[-1].append(j)
    return out
