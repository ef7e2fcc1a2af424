"""The ONNX graph of a BERT sentence encoder, built directly from the model folder's weights.

No torch: the weights are read from ``model.safetensors`` with ``safetensors.numpy`` and the graph
is written node by node with ``onnx.helper`` (opset 17). It computes what sentence-transformers
computes for ``Transformer -> Pooling -> [Normalize]``:

* embeddings: word + absolute position + token type 0, then LayerNormalization;
* per layer: self-attention (Q, K, V projections; heads by Reshape/Transpose; scores scaled by
  1/sqrt(head size) plus an additive mask bias of -1e4 on padding; Softmax), output projection,
  residual, LayerNormalization; feed-forward with exact GELU ``x*0.5*(1+erf(x/sqrt2))``, residual,
  LayerNormalization;
* pooling as the folder declares (:mod:`rag.embedding.pooling`: mean over the attention mask, the
  CLS token, or max over unmasked tokens), then L2 normalization (``x / max(|x|, 1e-12)``, as
  ``torch.nn.functional.normalize``). Vectors are always normalized: the index compares by cosine.

Inputs ``input_ids`` and ``attention_mask`` (int64, batch x tokens); output ``embedding`` (float32,
batch x hidden). :func:`supported` says whether a folder's config is a BERT this builder reproduces;
tests/test_bert_graph.py checks it against sentence-transformers to cosine >= 0.9999.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from rag.embedding.pooling import Pooling, read_pooling
from rag.errors import ModelError

OPSET = 17
MASK_BIAS = -1e4  # added to the attention scores of padding tokens (exp underflows to 0)


def _config(model_dir: Path) -> dict:
    try:
        return json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {model_dir / 'config.json'}: {exc}") from None


def unsupported_reason(model_dir: Path) -> str:
    """Why this builder cannot reproduce the model in ``model_dir`` ("" when it can)."""
    model_dir = Path(model_dir)
    cfg = _config(model_dir)
    if cfg.get("model_type") != "bert":
        return f"model type {cfg.get('model_type')!r} is not bert"
    if cfg.get("hidden_act", "gelu") != "gelu":
        return f"activation {cfg.get('hidden_act')!r} is not gelu"
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        return f"position embeddings {cfg.get('position_embedding_type')!r} are not absolute"
    if not (model_dir / "model.safetensors").is_file():
        return "no model.safetensors"
    return ""


def supported(model_dir: Path) -> bool:
    return not unsupported_reason(model_dir)


def _load_weights(model_dir: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file  # only when weights are read (an export, the word-vector table), not at import

    try:
        w = load_file(str(model_dir / "model.safetensors"))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise ModelError(f"cannot read {model_dir / 'model.safetensors'}: {exc}") from None
    # Some checkpoints prefix every name with the architecture ("bert.embeddings...").
    if not any(k.startswith("embeddings.") for k in w):
        w = {k.split(".", 1)[1]: v for k, v in w.items() if k.startswith("bert.")}
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in w.items() if v.dtype.kind == "f"}


_ALIGN = 4096  # offsets of external weights, so that ONNX Runtime can map them


class _Graph:
    """Accumulates nodes and initializers, naming intermediates uniquely. With ``data`` (an open
    binary file named ``data_name`` beside the graph), weights of 1 KiB or more are written there
    as raw little-endian bytes instead of into the graph (no 90 MB protobuf to build and parse)."""

    def __init__(self, data=None, data_name: str = "") -> None:
        from onnx import helper, numpy_helper  # heavy: onnx (~150 ms), only when a graph is built

        self.h, self.nh = helper, numpy_helper
        self.nodes: list = []
        self.inits: list = []
        self._n = 0
        self._data, self._data_name = data, data_name

    def const(self, name: str, array: np.ndarray) -> str:
        array = np.array(array, order="C", copy=None)  # (not ascontiguousarray: it makes scalars 1-d)
        if self._data is None or array.nbytes < 1024:
            self.inits.append(self.nh.from_array(array, name))
            return name
        from onnx import TensorProto  # heavy: onnx (~150 ms), only when a graph is built

        f = self._data
        offset = -f.tell() % _ALIGN + f.tell()
        f.seek(offset)
        f.write(array.astype(array.dtype.newbyteorder("<"), copy=False).data)
        t = TensorProto(name=name, dims=list(array.shape), data_type=self.h.np_dtype_to_tensor_dtype(array.dtype))
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", self._data_name), ("offset", str(offset)), ("length", str(array.nbytes))):
            e = t.external_data.add()
            e.key, e.value = k, v
        self.inits.append(t)
        return name

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        self._n += 1
        out = f"{op_type.lower()}_{self._n}"
        self.nodes.append(self.h.make_node(op_type, inputs, [out], name=f"n{self._n}_{op_type}", **attrs))
        return out

    def linear(self, x: str, w: dict, prefix: str) -> str:
        """``x @ W.T + b`` of the torch Linear ``prefix`` (weights stored transposed, once)."""
        wt = self.const(f"{prefix}.weight_t", w[f"{prefix}.weight"].T.copy())
        b = self.const(f"{prefix}.bias", w[f"{prefix}.bias"])
        return self.op("Add", [self.op("MatMul", [x, wt]), b])

    def layer_norm(self, x: str, w: dict, prefix: str, eps: float) -> str:
        g = self.const(f"{prefix}.weight", w[f"{prefix}.weight"])
        b = self.const(f"{prefix}.bias", w[f"{prefix}.bias"])
        return self.op("LayerNormalization", [x, g, b], axis=-1, epsilon=eps)


def build_model(model_dir: Path, pooling: Pooling | None = None, data=None, data_name: str = ""):
    """The ``onnx.ModelProto`` of the model in ``model_dir``: its weights in the graph, or, with
    ``data`` (an open binary file), written there and named ``data_name`` (a file beside the saved
    graph). Raises :class:`ModelError` for a model it does not reproduce."""
    from onnx import TensorProto, helper  # heavy: onnx (~150 ms), only when a graph is built

    model_dir = Path(model_dir)
    reason = unsupported_reason(model_dir)
    if reason:
        raise ModelError(f"cannot build the ONNX graph of {model_dir}: {reason}")
    pooling = pooling or read_pooling(model_dir)
    cfg = _config(model_dir)
    w = _load_weights(model_dir)
    hidden = int(cfg["hidden_size"])
    heads = int(cfg["num_attention_heads"])
    layers = int(cfg["num_hidden_layers"])
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    head = hidden // heads
    try:
        return _build(_Graph(data, data_name), w, pooling, hidden, heads, head, layers, eps, TensorProto, helper)
    except KeyError as exc:
        raise ModelError(f"cannot build the ONNX graph of {model_dir}: weight {exc} is missing") from None


def _build(g, w, pooling, hidden, heads, head, layers, eps, TensorProto, helper):
    i64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
    f32 = lambda v: np.array(v, dtype=np.float32)  # noqa: E731

    # Embeddings: word[ids] + position[0..L-1] + token_type[0]; LayerNorm.
    word = g.const("embeddings.word_embeddings.weight", w["embeddings.word_embeddings.weight"])
    pos = g.const("embeddings.position_embeddings.weight", w["embeddings.position_embeddings.weight"])
    typ = g.const("embeddings.token_type_0", w["embeddings.token_type_embeddings.weight"][0])
    length = g.op("Shape", ["input_ids"], start=1, end=2)  # [tokens]
    zero = g.const("c_zero_1d", i64(0))
    x = g.op("Add", [g.op("Gather", [word, "input_ids"], axis=0),
                     g.op("Slice", [pos, zero, length, zero])])  # rows 0..tokens-1
    x = g.op("Add", [x, typ])
    x = g.layer_norm(x, w, "embeddings.LayerNorm", eps)

    # Additive attention bias, batch x 1 x 1 x tokens: 0 on tokens, MASK_BIAS on padding.
    maskf = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    bias = g.op("Mul", [g.op("Sub", [g.const("c_onef", f32(1.0)), maskf]), g.const("c_mask_bias", f32(MASK_BIAS))])
    bias = g.op("Unsqueeze", [bias, g.const("c_axes_12", i64(1, 2))])
    split_heads = g.const("c_split_heads", i64(0, -1, heads, head))  # 0: copy the batch dimension
    merge_heads = g.const("c_merge_heads", i64(0, -1, hidden))
    scale = g.const("c_scale", f32(1.0 / math.sqrt(head)))
    sqrt2 = g.const("c_sqrt2", f32(math.sqrt(2.0)))
    half = g.const("c_half", f32(0.5))
    one = "c_onef"

    for n in range(layers):
        p = f"encoder.layer.{n}"

        def heads_of(t: str, perm: list[int]) -> str:
            return g.op("Transpose", [g.op("Reshape", [t, split_heads])], perm=perm)

        q = heads_of(g.linear(x, w, f"{p}.attention.self.query"), [0, 2, 1, 3])  # B H L d
        k = heads_of(g.linear(x, w, f"{p}.attention.self.key"), [0, 2, 3, 1])  # B H d L
        v = heads_of(g.linear(x, w, f"{p}.attention.self.value"), [0, 2, 1, 3])  # B H L d
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), bias])
        probs = g.op("Softmax", [scores], axis=-1)
        ctx = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])  # B L H d
        ctx = g.op("Reshape", [ctx, merge_heads])
        att = g.linear(ctx, w, f"{p}.attention.output.dense")
        x = g.layer_norm(g.op("Add", [att, x]), w, f"{p}.attention.output.LayerNorm", eps)
        inter = g.linear(x, w, f"{p}.intermediate.dense")
        gelu = g.op("Mul", [g.op("Mul", [inter, half]),
                            g.op("Add", [g.op("Erf", [g.op("Div", [inter, sqrt2])]), one])])
        out = g.linear(gelu, w, f"{p}.output.dense")
        x = g.layer_norm(g.op("Add", [out, x]), w, f"{p}.output.LayerNorm", eps)

    # Pooling as the folder declares, then L2 normalization.
    if pooling.mode == "cls":
        pooled = g.op("Gather", [x, g.const("c_zero_idx", np.array(0, np.int64))], axis=1)
    else:
        m3 = g.op("Unsqueeze", [maskf, g.const("c_axes_2", i64(2))])  # B L 1
        if pooling.mode == "max":
            fill = g.op("Mul", [g.op("Sub", [one, m3]), g.const("c_lowest", f32(np.finfo(np.float32).min))])
            pooled = g.op("ReduceMax", [g.op("Add", [g.op("Mul", [x, m3]), fill])], axes=[1], keepdims=0)
        else:
            total = g.op("ReduceSum", [g.op("Mul", [x, m3]), g.const("c_axes_1", i64(1))], keepdims=0)
            count = g.op("ReduceSum", [m3, "c_axes_1"], keepdims=0)
            count = g.op("Max", [count, g.const("c_min_count", f32(1e-9))])
            pooled = g.op("Div", [total, count])
    norm = g.op("ReduceL2", [pooled], axes=[-1], keepdims=1)  # opset 17: axes an attribute
    norm = g.op("Max", [norm, g.const("c_min_norm", f32(1e-12))])
    g.nodes.append(helper.make_node("Div", [pooled, norm], ["embedding"], name="normalize"))

    axes = ["batch", "tokens"]
    graph = helper.make_graph(
        g.nodes, "sentence_encoder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, axes),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, axes)],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])],
        initializer=g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="rag")
    model.ir_version = 8  # what ONNX Runtime 1.x reads for opset 17
    return model
