"""A numpy-only forward pass of a BERT sentence encoder (all-MiniLM-L6-v2 and its kin).

This is the cold-start query path: importing torch alone costs seconds, while this module needs
only numpy, ``tokenizers`` and ``safetensors`` and loads the 22M-parameter model in a fraction of a
second. It reproduces what sentence-transformers computes for a ``Transformer -> mean Pooling ->
Normalize`` model (or CLS or max pooling, as the folder declares: :mod:`rag.embedding.pooling`):
word-piece tokenization (truncated to ``max_length`` word-pieces, special tokens
included), a post-LayerNorm BERT encoder with exact (erf) GELU, pooling of the last hidden states
(attention-masked mean, first token, or attention-masked max) and L2 normalization. Outputs agree with sentence-transformers' fp32 outputs
to a cosine of 1 - 1e-6 or better.

Nothing here imports torch, transformers or sentence_transformers, and nothing changes global state
(no environment variables, no thread settings).
"""

from __future__ import annotations

import json
import math
import mmap
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from safetensors import safe_open
from tokenizers import Encoding, Tokenizer

from rag.embedding.pooling import read_pooling

__all__ = ["NumpyEncoder"]

_F32 = np.float32
_MASK_VALUE = _F32(np.finfo(np.float32).min)

# Attention score elements (sequences x heads x length x length) handled at once: bounds memory.
_ATTENTION_BLOCK = 1 << 21
# Per-head attention products are split by query rows so that each one stays at or under this
# many multiply-adds, the size under which OpenBLAS runs a product on the calling thread. Hundreds
# of tiny multi-threaded products per layer cost more in thread hand-offs than they compute.
_SMALL_GEMM = 1 << 18
# Token rows per feed-forward matrix product. Few large BLAS calls matter: each multi-threaded call
# pays a thread hand-off, which gets very expensive when other processes compete for the cores.
_FFN_ROWS = 2048
# Rows per GELU pass: keeps the elementwise work in cache.
_GELU_ROWS = 128

# Rational approximation of erf on [-4, 4] (Eigen's ``generic_fast_erf_float``, also used by XLA):
# erf(x) = x * P(x^2) / Q(x^2), accurate to a few float32 ulps; |erf(x)| rounds to 1 beyond 4.
_ERF_ALPHA = tuple(
    _F32(c)
    for c in (
        -2.72614225801306e-10,
        2.77068142495902e-08,
        -2.10102402082508e-06,
        -5.69250639462346e-05,
        -7.34990630326855e-04,
        -2.95459980854025e-03,
        -1.60960333262415e-02,
    )
)
_ERF_BETA = tuple(
    _F32(c)
    for c in (
        -1.45660718464996e-05,
        -2.13374055278905e-04,
        -1.68282697438203e-03,
        -7.37332916720468e-03,
        -1.42647390514189e-02,
    )
)
_INV_SQRT2 = _F32(1.0 / math.sqrt(2.0))
_HALF = _F32(0.5)
_ONE = _F32(1.0)

_REQUIRED_FILES = ("config.json", "tokenizer.json", "model.safetensors")


def _gelu_(h: np.ndarray, scratch: np.ndarray) -> None:
    """Exact GELU, ``0.5 * h * (1 + erf(h / sqrt(2)))``, in place on a 2-D float32 array.

    ``scratch`` is a float32 array of shape ``(4, rows, h.shape[1])`` with ``rows >= len(h)``;
    working in caller-provided buffers avoids a dozen large temporaries per call.
    """
    r = h.shape[0]
    x, x2, p, q = scratch[0, :r], scratch[1, :r], scratch[2, :r], scratch[3, :r]
    np.multiply(h, _INV_SQRT2, out=x)
    np.clip(x, _F32(-4.0), _F32(4.0), out=x)
    np.multiply(x, x, out=x2)
    np.multiply(x2, _ERF_ALPHA[0], out=p)
    p += _ERF_ALPHA[1]
    for c in _ERF_ALPHA[2:]:
        p *= x2
        p += c
    np.multiply(x2, _ERF_BETA[0], out=q)
    q += _ERF_BETA[1]
    for c in _ERF_BETA[2:]:
        q *= x2
        q += c
    p *= x
    p /= q  # erf(h / sqrt(2))
    p += _ONE
    p *= _HALF
    h *= p


def _layer_norm_(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: np.float32) -> None:
    """LayerNorm over the last axis of a 2-D float32 array, in place."""
    inv_n = _F32(1.0 / x.shape[-1])
    mean = x.sum(axis=-1, keepdims=True)
    mean *= inv_n
    x -= mean
    var = np.einsum("ij,ij->i", x, x)
    var *= inv_n
    var += eps
    np.sqrt(var, out=var)
    x /= var[:, None]
    x *= gamma
    x += beta


class _Layer:
    """One encoder layer's weights, matrices transposed to ``(in, out)`` and contiguous."""

    __slots__ = ("w_qkv", "b_qkv", "w_o", "b_o", "ln1_g", "ln1_b", "w_i", "b_i", "w_out", "b_out",
                 "ln2_g", "ln2_b")

    def __init__(self, t: dict[str, np.ndarray], scale: float) -> None:
        # The 1/sqrt(head_dim) attention scale is folded into the query projection.
        self.w_qkv = np.ascontiguousarray(
            np.concatenate([t["query.weight"] * _F32(scale), t["key.weight"], t["value.weight"]]).T
        )
        self.b_qkv = np.concatenate([t["query.bias"] * _F32(scale), t["key.bias"], t["value.bias"]])
        self.w_o = np.ascontiguousarray(t["attn_out.weight"].T)
        self.b_o = t["attn_out.bias"]
        self.ln1_g = t["ln1.weight"]
        self.ln1_b = t["ln1.bias"]
        self.w_i = np.ascontiguousarray(t["intermediate.weight"].T)
        self.b_i = t["intermediate.bias"]
        self.w_out = np.ascontiguousarray(t["output.weight"].T)
        self.b_out = t["output.bias"]
        self.ln2_g = t["ln2.weight"]
        self.ln2_b = t["ln2.bias"]


_LAYER_KEYS = {
    "query.weight": "attention.self.query.weight",
    "query.bias": "attention.self.query.bias",
    "key.weight": "attention.self.key.weight",
    "key.bias": "attention.self.key.bias",
    "value.weight": "attention.self.value.weight",
    "value.bias": "attention.self.value.bias",
    "attn_out.weight": "attention.output.dense.weight",
    "attn_out.bias": "attention.output.dense.bias",
    "ln1.weight": "attention.output.LayerNorm.weight",
    "ln1.bias": "attention.output.LayerNorm.bias",
    "intermediate.weight": "intermediate.dense.weight",
    "intermediate.bias": "intermediate.dense.bias",
    "output.weight": "output.dense.weight",
    "output.bias": "output.dense.bias",
    "ln2.weight": "output.LayerNorm.weight",
    "ln2.bias": "output.LayerNorm.bias",
}


def _map_f32_tensor(path: Path, key: str) -> np.ndarray | None:
    """A read-only memory map of one float32 tensor of a safetensors file, or None if not possible.

    The word-embedding table is most of the file but a query touches only a few of its rows:
    mapping it instead of copying it saves tens of milliseconds and ~45 MB of resident memory.
    """
    try:
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(header_len))
            info = header[key]
            start, end = (int(o) for o in info["data_offsets"])
            shape = tuple(int(d) for d in info["shape"])
            if info["dtype"] != "F32" or end - start != 4 * math.prod(shape) or len(shape) != 2:
                return None
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    offset = 8 + header_len + start
    if offset + 4 * math.prod(shape) > len(mapped):
        mapped.close()
        return None
    return np.frombuffer(mapped, dtype="<f4", count=math.prod(shape), offset=offset).reshape(shape)


def load_word_embeddings(model_dir: Path) -> np.ndarray:
    """The model's word-embedding table, ``(vocab, hidden)`` float32, memory-mapped when possible."""
    path = Path(model_dir) / "model.safetensors"
    try:
        with safe_open(str(path), framework="np") as f:
            keys = set(f.keys())
            key = next((k for k in ("bert.embeddings.word_embeddings.weight", "embeddings.word_embeddings.weight")
                        if k in keys), None)
            if key is None:
                raise ValueError(f"{path} has no word embeddings")
            word = _map_f32_tensor(path, key)
            if word is None:
                word = f.get_tensor(key).astype(_F32)
    except ValueError:
        raise
    except Exception as exc:  # safetensors' own errors (bad header, truncated file, ...)
        raise ValueError(f"cannot read weights {path}: {exc}") from exc
    if word.ndim != 2:
        raise ValueError(f"{path}: word embeddings have shape {word.shape}")
    return word


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return data


def _check_config(config: dict[str, Any], path: Path) -> tuple[int, int, int, int, int, float]:
    """Validate a BERT config; return (hidden, heads, layers, intermediate, max_positions, eps)."""

    def bad(why: str) -> ValueError:
        return ValueError(f"unsupported model config {path}: {why}")

    if config.get("model_type") != "bert":
        raise bad(f"model_type is {config.get('model_type')!r}, only 'bert' is supported")
    if config.get("hidden_act", "gelu") != "gelu":
        raise bad(f"hidden_act is {config.get('hidden_act')!r}, only exact 'gelu' is supported")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise bad("only absolute position embeddings are supported")
    if config.get("is_decoder", False) or config.get("add_cross_attention", False):
        raise bad("decoder / cross-attention BERTs are not supported")
    try:
        hidden = int(config["hidden_size"])
        heads = int(config["num_attention_heads"])
        layers = int(config["num_hidden_layers"])
        intermediate = int(config["intermediate_size"])
        max_positions = int(config["max_position_embeddings"])
        eps = float(config.get("layer_norm_eps", 1e-12))
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"missing or malformed field ({exc})") from exc
    if min(hidden, heads, layers, intermediate, max_positions) <= 0 or hidden % heads:
        raise bad("hidden_size must be a positive multiple of num_attention_heads")
    return hidden, heads, layers, intermediate, max_positions, eps


class NumpyEncoder:
    """Sentence embeddings from a BERT sentence-transformers folder, computed with numpy.

    ``encode`` returns the same L2-normalized embeddings (pooled as the folder declares) as
    ``SentenceTransformer(model_dir).encode(texts, normalize_embeddings=True)`` in fp32.
    Instances are immutable after construction and safe to share between threads.
    """

    dim: int

    def __init__(self, model_dir: str | os.PathLike[str], max_length: int = 256) -> None:
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ValueError(f"model folder {model_dir} does not exist or is not a folder")
        missing = [name for name in _REQUIRED_FILES if not (model_dir / name).is_file()]
        if missing:
            raise ValueError(f"model folder {model_dir} lacks {', '.join(missing)}")

        config_path = model_dir / "config.json"
        hidden, heads, n_layers, intermediate, max_positions, eps = _check_config(
            _read_json(config_path), config_path
        )
        if not isinstance(max_length, int) or not 2 <= max_length <= max_positions:
            raise ValueError(
                f"max_length must be an int between 2 and {max_positions} (the model's"
                f" max_position_embeddings), got {max_length!r}"
            )
        self.pooling = read_pooling(model_dir)  # ModelError for what this module does not reproduce

        try:
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises plain Exception subclasses
            raise ValueError(f"cannot load {model_dir / 'tokenizer.json'}: {exc}") from exc
        # tokenizer.json ships with fixed padding and truncation at 128: replace both.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer = tokenizer

        self._hidden = hidden
        self._heads = heads
        self._head_dim = hidden // heads
        self._intermediate = intermediate
        self._eps = _F32(eps)
        self.max_length = max_length
        self.dim = hidden

        self._load_weights(model_dir / "model.safetensors", hidden, n_layers, intermediate,
                           max_positions)

    def _load_weights(self, path: Path, hidden: int, n_layers: int, intermediate: int,
                      max_positions: int) -> None:
        try:
            with safe_open(str(path), framework="np") as f:
                keys = set(f.keys())
                prefix = "bert." if "bert.embeddings.word_embeddings.weight" in keys else ""

                def get(name: str, shape: tuple[int, ...] | None) -> np.ndarray:
                    key = prefix + name
                    if key not in keys:
                        raise ValueError(f"{path} lacks tensor {key!r}")
                    arr = f.get_tensor(key)
                    if shape is not None and arr.shape != shape:
                        raise ValueError(
                            f"{path}: tensor {key!r} has shape {arr.shape}, the config implies {shape}"
                        )
                    return arr if arr.dtype == _F32 else arr.astype(_F32)

                word = _map_f32_tensor(path, prefix + "embeddings.word_embeddings.weight")
                if word is None:
                    word = get("embeddings.word_embeddings.weight", None)
                if word.ndim != 2 or word.shape[1] != hidden:
                    raise ValueError(f"{path}: word embeddings have shape {word.shape}")
                position = get("embeddings.position_embeddings.weight", (max_positions, hidden))
                token_type = get("embeddings.token_type_embeddings.weight", None)
                emb_ln_g = get("embeddings.LayerNorm.weight", (hidden,))
                emb_ln_b = get("embeddings.LayerNorm.bias", (hidden,))
                shapes = {
                    "query.weight": (hidden, hidden), "key.weight": (hidden, hidden),
                    "value.weight": (hidden, hidden), "attn_out.weight": (hidden, hidden),
                    "intermediate.weight": (intermediate, hidden),
                    "output.weight": (hidden, intermediate), "intermediate.bias": (intermediate,),
                }
                scale = 1.0 / math.sqrt(self._head_dim)
                layers = []
                for i in range(n_layers):
                    t = {
                        short: get(f"encoder.layer.{i}.{long}", shapes.get(short, (hidden,)))
                        for short, long in _LAYER_KEYS.items()
                    }
                    layers.append(_Layer(t, scale))
        except ValueError:
            raise
        except Exception as exc:  # safetensors' own errors (bad header, truncated file, ...)
            raise ValueError(f"cannot read weights {path}: {exc}") from exc

        if token_type.ndim != 2 or token_type.shape[1] != hidden:
            raise ValueError(f"{path}: token type embeddings have shape {token_type.shape}")
        vocab = self._tokenizer.get_vocab_size(with_added_tokens=True)
        if vocab > word.shape[0]:
            raise ValueError(
                f"tokenizer has {vocab} tokens but the model only {word.shape[0]} word embeddings"
            )
        self._word = word
        # Every input is one segment (token type 0), so type and position embeddings fold into one.
        self._position = np.ascontiguousarray(position[: self.max_length] + token_type[0])
        self._emb_ln = (emb_ln_g, emb_ln_b)
        self._layers = tuple(layers)

    # ------------------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Number of word-pieces in ``text``, special tokens excluded, without truncation."""
        enc = self._tokenizer.encode(text, add_special_tokens=False)
        # Truncation (stride 0) moves the rest into non-overlapping overflow pieces.
        return len(enc.ids) + sum(len(o.ids) for o in enc.overflowing)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embed ``texts``: a float32 array of shape ``(len(texts), dim)`` with unit-length rows."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of strings, not a single string")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        texts = list(texts)
        n = len(texts)
        out = np.empty((n, self.dim), dtype=_F32)
        if n == 0:
            return out
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__}, not str")

        encodings: list[Encoding]
        if n == 1:
            encodings = [self._tokenizer.encode(texts[0])]
        else:
            # One at a time: encode_batch would start the tokenizers' thread pool, which stalls on a
            # busy machine and is not worth it for the few texts a query path embeds.
            encodings = [self._tokenizer.encode(t) for t in texts]
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=n)
        # Longest first, so batches hold similar lengths and padding stays small.
        order = np.argsort(-lengths, kind="stable")
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            width = int(lengths[idx[0]])
            ids = np.zeros((len(idx), width), dtype=np.int64)
            for row, j in enumerate(idx):
                ids[row, : lengths[j]] = encodings[j].ids
            out[idx] = self._embed(ids, lengths[idx])
        return out

    # ------------------------------------------------------------------------------------------

    def _embed(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Normalized pooled embeddings of a right-padded ``(batch, width)`` id array."""
        batch, width = ids.shape
        n = batch * width
        hidden, heads, head_dim = self._hidden, self._heads, self._head_dim
        eps = self._eps
        padded = bool(lengths.min() < width)
        if padded:
            valid = np.arange(width)[None, :] < lengths[:, None]  # (batch, width)
            mask_bias = np.where(valid, _F32(0.0), _MASK_VALUE).astype(_F32)[:, None, None, :]
        else:
            valid = None
            mask_bias = None

        # Work buffers, allocated once per call: large numpy temporaries are costly to allocate.
        x = np.empty((n, hidden), dtype=_F32)  # hidden states, updated layer by layer
        mid = np.empty((n, hidden), dtype=_F32)  # states after the attention block
        ctx = np.empty((n, hidden), dtype=_F32)  # attention context
        qkv = np.empty((n, 3 * hidden), dtype=_F32)
        rows = min(n, _FFN_ROWS)
        gelu_rows = min(rows, _GELU_ROWS)
        inner = np.empty((rows, self._intermediate), dtype=_F32)
        scratch = np.empty((4, gelu_rows, self._intermediate), dtype=_F32)
        step = max(1, min(batch, _ATTENTION_BLOCK // (heads * width * width)))
        row_block = max(1, min(width, _SMALL_GEMM // (width * head_dim)))
        scores = np.empty((step, heads, width, width), dtype=_F32)

        np.take(self._word, ids.reshape(-1), axis=0, out=x)
        x.reshape(batch, width, hidden)[...] += self._position[:width]
        _layer_norm_(x, self._emb_ln[0], self._emb_ln[1], eps)

        # (batch, width, 3, heads, head_dim) -> (3, batch, heads, width, head_dim), a view.
        q, k, v = qkv.reshape(batch, width, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
        k_t = k.transpose(0, 1, 3, 2)
        ctx_heads = ctx.reshape(batch, width, heads, head_dim).transpose(0, 2, 1, 3)

        for layer in self._layers:
            np.matmul(x, layer.w_qkv, out=qkv)
            qkv += layer.b_qkv
            for s in range(0, batch, step):
                e = slice(s, s + step)
                sc = scores[: min(step, batch - s)]
                q_e, k_t_e, v_e, ctx_e = q[e], k_t[e], v[e], ctx_heads[e]
                for r in range(0, width, row_block):
                    rr = slice(r, r + row_block)
                    np.matmul(q_e[:, :, rr], k_t_e, out=sc[:, :, rr])
                if mask_bias is not None:
                    sc += mask_bias[e]
                sc -= sc.max(axis=-1, keepdims=True)
                np.exp(sc, out=sc)
                sc /= sc.sum(axis=-1, keepdims=True)
                for r in range(0, width, row_block):
                    rr = slice(r, r + row_block)
                    np.matmul(sc[:, :, rr], v_e, out=ctx_e[:, :, rr])
            np.matmul(ctx, layer.w_o, out=mid)
            mid += layer.b_o
            mid += x
            _layer_norm_(mid, layer.ln1_g, layer.ln1_b, eps)

            for s in range(0, n, rows):
                m = mid[s : s + rows]
                h = inner[: len(m)]
                np.matmul(m, layer.w_i, out=h)
                for g in range(0, len(h), gelu_rows):
                    hg = h[g : g + gelu_rows]
                    hg += layer.b_i
                    _gelu_(hg, scratch)
                y = x[s : s + rows]
                np.matmul(h, layer.w_out, out=y)
                y += layer.b_out
                y += m
            _layer_norm_(x, layer.ln2_g, layer.ln2_b, eps)

        states = x.reshape(batch, width, hidden)
        mode = self.pooling.mode
        if mode == "cls":
            pooled = np.array(states[:, 0], dtype=_F32)
        elif mode == "max":
            if valid is not None:
                states[~valid] = _MASK_VALUE
            pooled = states.max(axis=1)
        elif valid is None:
            pooled = states.sum(axis=1)
            pooled *= _F32(1.0 / width)
        else:
            pooled = np.einsum("bwh,bw->bh", states, valid.astype(_F32))
            pooled /= lengths.astype(_F32)[:, None]
        norms = np.sqrt(np.einsum("bh,bh->b", pooled, pooled))
        np.maximum(norms, _F32(1e-12), out=norms)
        pooled /= norms[:, None]
        return pooled
