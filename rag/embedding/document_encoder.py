"""Encoders: text to normalized vectors, with sentence-transformers (torch).

Builds and questions normally use the ONNX Runtime export (:mod:`rag.embedding.onnx_encoder`,
built from the weights without torch for a BERT model). What is here runs only where there is no
export: a model :mod:`rag.embedding.bert_graph` does not build, or a failed export.

* :class:`DocumentEncoder` embeds passages with sentence-transformers. On CPUs with native bf16 it
  runs under bf16 autocast; elsewhere fp32. It is also the reference the tests check every fast
  path against.
* :class:`TorchQueryEncoder` embeds questions with that same model in this process.
  :func:`shared_document_encoder` keeps one loaded model per process, so a build and the first
  question load it once.

Both satisfy :class:`Encoder`; tests can pass any object that does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.errors import ModelError, RagError
from rag.embedding.model import ModelInfo, default_model_dir, model_info, tokenizers_single_threaded, word_pieces
from rag.embedding.pooling import Pooling

Progress = Callable[[int, int], None]


class BuildCancelled(RagError):
    """The build was cancelled; the previous index is untouched."""


class Encoder(Protocol):
    info: ModelInfo
    path_name: str  # which code path encodes, for the build summary

    def token_ends(self, text: str) -> list[int]: ...

    def encode(
        self, texts: list[str], progress: Progress | None = None, cancel: threading.Event | None = None
    ) -> np.ndarray: ...


def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX), where autocast pays off."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool({"avx512_bf16", "amx_bf16"} & flags)
    except OSError:
        pass
    return False


class DocumentEncoder:
    """sentence-transformers over the model folder, loaded lazily on first use."""

    CHUNK = 256  # texts per progress step and cancellation check

    def __init__(self, model_dir: Path | None = None, precision: str = "auto", batch_size: int = 32) -> None:
        if precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', not {precision!r}")
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self.info = model_info(self.model_dir)
        self.precision = ("bf16" if cpu_has_bf16() else "fp32") if precision == "auto" else precision
        self.path_name = f"torch-{self.precision}"
        self.batch_size = batch_size
        self._pieces = word_pieces(str(self.model_dir))
        self._model = None
        self._lock = threading.Lock()

    def token_ends(self, text: str) -> list[int]:
        return self._pieces.token_ends(text)

    def model(self):
        """The loaded transformer (a ``transformers`` model in eval mode; loads it on first use)."""
        return self._load()[0].auto_model

    def sentence_transformer(self):
        """The loaded ``SentenceTransformer`` (the reference every fast encoder is checked against)."""
        return self._load()

    def _load(self):
        with self._lock:
            if self._model is None:
                self._model = _load_sentence_transformer(self.model_dir, self.info.max_tokens)
        return self._model

    def encode(
        self, texts: list[str], progress: Progress | None = None, cancel: threading.Event | None = None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.info.dim), dtype=np.float32)
        model = self._load()
        import torch  # heavy: torch (~1 s), only on the sentence-transformers paths (reference, fallback)

        # Encode longest first in chunks, so batches hold similar lengths and progress is steady.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.info.dim), dtype=np.float32)
        done = 0
        for start in range(0, len(order), self.CHUNK):
            if cancel is not None and cancel.is_set():
                raise BuildCancelled("build cancelled; the previous index is unchanged")
            idx = order[start : start + self.CHUNK]
            batch = [texts[i] for i in idx]
            with (tokenizers_single_threaded(), torch.inference_mode(),
                  torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16")):
                vecs = model.encode(
                    batch,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=False,
                    convert_to_tensor=True,
                    show_progress_bar=False,
                )
            vecs = vecs.float()
            vecs = torch.nn.functional.normalize(vecs, dim=-1).numpy()
            out[idx] = vecs
            done += len(idx)
            if progress is not None:
                progress(done, len(texts))
        return out


_MODELS: dict[str, object] = {}
_MODELS_LOCK = threading.Lock()


def _load_sentence_transformer(model_dir: Path, max_tokens: int):
    """The ``SentenceTransformer`` of ``model_dir``, loaded once per process (encoders of either
    precision share it: the precision is only the autocast around each call)."""
    with _MODELS_LOCK:
        model = _MODELS.get(str(model_dir))
        if model is None:
            try:
                from sentence_transformers import SentenceTransformer  # heavy: sentence-transformers and torch, only for the reference/fallback encoder

                # A local folder with local_files_only: nothing is looked up on the network,
                # so no process-wide offline variables are needed.
                with tokenizers_single_threaded(), _no_progress_bars():
                    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
            except Exception as exc:  # any load failure is one clear message
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ModelError(f"cannot load the embedding model from {model_dir}: {first}") from exc
            model.max_seq_length = max_tokens
            _MODELS[str(model_dir)] = model
        return model


def pool(model, ids, mask, pooling: Pooling):
    """Normalized sentence vectors from the transformer's last hidden states, pooled as the model
    folder declares (:mod:`rag.embedding.pooling`), in float32: what sentence-transformers computes."""
    import torch  # heavy: torch (~1 s), only on the sentence-transformers paths (reference, fallback)

    h = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state.float()
    if pooling.mode == "cls":
        pooled = h[:, 0]
    elif pooling.mode == "max":
        pooled = h.masked_fill(mask.unsqueeze(-1) == 0, torch.finfo(h.dtype).min).max(dim=1).values
    else:
        w = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * w).sum(dim=1) / w.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


_SHARED: dict[tuple[str, str], DocumentEncoder] = {}
_SHARED_LOCK = threading.Lock()


def shared_document_encoder(model_dir: Path, precision: str = "auto") -> DocumentEncoder:
    """One :class:`DocumentEncoder` per model folder and precision in this process, so that a build
    and the questions after it (:class:`TorchQueryEncoder`) load torch and the model once."""
    key = (str(Path(model_dir)), precision)
    with _SHARED_LOCK:
        enc = _SHARED.get(key)
        if enc is None:
            enc = _SHARED[key] = DocumentEncoder(Path(model_dir), precision=precision)
        return enc


class TorchQueryEncoder:
    """Questions to vectors with sentence-transformers in this process, in fp32: the fallback while
    the ONNX Runtime export (:mod:`rag.embedding.onnx_encoder`) is missing or damaged. The same
    vectors as the export (and the same loaded model as a build in this process); only its first
    use is slower (torch)."""

    fallback_reason = ""  # why the ONNX Runtime encoder was not used (also logged, on "rag.encoder")

    def __init__(self, model_dir: Path, info: ModelInfo) -> None:
        self.model_dir = Path(model_dir)
        self.info = info
        self._enc = shared_document_encoder(self.model_dir, "fp32")  # the ONNX export's precision
        self.path_name = self._enc.path_name
        self._static = None
        self._static_lock = threading.Lock()

    def token_ends(self, text: str) -> list[int]:
        return word_pieces(str(self.model_dir)).token_ends(text)

    def static_vectors(self, texts: list[str]) -> np.ndarray:
        """Cheap meaning vectors of ``texts`` (:class:`rag.embedding.static_vectors.StaticVectors`)."""
        with self._static_lock:
            if self._static is None:
                from rag.embedding.static_vectors import StaticVectors  # the word-vector table: only when answer sentences are scored

                try:
                    self._static = StaticVectors.load(self.model_dir)
                except (OSError, ValueError) as exc:
                    raise ModelError(f"cannot load the embedding model from {self.model_dir}: {exc}") from exc
        return self._static(texts)

    def encode(
        self, texts: list[str], progress: Progress | None = None, cancel: threading.Event | None = None
    ) -> np.ndarray:
        return self._enc.encode(list(texts), progress=progress, cancel=cancel)


@contextmanager
def _no_progress_bars() -> Iterator[None]:
    """Silence transformers' "Loading weights" bar while the model loads (rag draws its own
    progress); the previous setting comes back afterwards."""
    from transformers.utils import logging as hf_logging  # with sentence-transformers only (already loaded then)

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
