"""How a sentence-transformers model folder turns token states into one vector, as it declares it.

sentence-transformers reads ``modules.json`` (the pipeline: Transformer, Pooling, Normalize, ...)
and ``1_Pooling/config.json`` (the pooling mode). The ONNX Runtime export reproduces
``Transformer -> Pooling(cls | mean | max) [-> Normalize]``; :func:`read_pooling` returns that
pooling, or raises :class:`~rag.errors.ModelError` naming what a folder declares beyond it (a Dense
layer, weighted-mean or last-token pooling, several modes at once, a default prompt, ...), so such
a model is refused with one line instead of answering with vectors that differ from the stored ones.

Vectors are always L2-normalized here (the index compares by cosine), so a Normalize module present
or not gives the same rankings. Pure Python: no torch, no numpy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ModelError

SUPPORTED_MODES = ("mean", "cls", "max")
# sentence-transformers' pooling keys before v5 (booleans), in the order it reads them.
_LEGACY_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass(frozen=True, slots=True)
class Pooling:
    """The pooling a model folder declares: ``mode`` is "mean", "cls" or "max"."""

    mode: str = "mean"
    normalize: bool = False  # the folder has a Normalize module (vectors are normalized anyway)


def _json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from None


def _module_kind(entry) -> str:
    t = entry.get("type", "") if isinstance(entry, dict) else ""
    if not isinstance(t, str) or not t.startswith("sentence_transformers."):
        return str(t) or "an unnamed module"
    return t.rsplit(".", 1)[-1]


def _pooling_mode(config: dict, path: Path) -> str:
    mode = config.get("pooling_mode")
    if mode is None:  # the legacy booleans; none set means mean
        modes = [m for k, m in _LEGACY_KEYS.items() if config.get(k)]
        mode = modes or ["mean"]
    modes = [mode] if isinstance(mode, str) else list(mode) if isinstance(mode, list) else [repr(mode)]
    if len(modes) != 1:
        raise ModelError(f"unsupported model: {path} combines pooling modes {', '.join(map(str, modes))}; "
                         f"rag supports one of {', '.join(SUPPORTED_MODES)}")
    if modes[0] not in SUPPORTED_MODES:
        raise ModelError(f"unsupported model: {path} declares {modes[0]} pooling; "
                         f"rag supports {', '.join(SUPPORTED_MODES)} pooling")
    return modes[0]


def read_pooling(model_dir: str | Path) -> Pooling:
    """The pooling of the sentence-transformers folder ``model_dir``; :class:`ModelError` when the
    folder declares anything the fast encoders do not reproduce."""
    model_dir = Path(model_dir)
    st_config = model_dir / "config_sentence_transformers.json"
    if st_config.is_file():
        cfg = _json(st_config)
        if isinstance(cfg, dict) and cfg.get("default_prompt_name"):
            raise ModelError(f"unsupported model: {st_config} sets a default prompt "
                             f"({cfg['default_prompt_name']!r}); rag encodes texts without prompts")
    modules_path = model_dir / "modules.json"
    if not modules_path.is_file():  # a plain transformer: sentence-transformers adds mean pooling
        return Pooling("mean", normalize=False)
    modules = _json(modules_path)
    if not isinstance(modules, list) or not modules:
        raise ModelError(f"unsupported model: {modules_path} is not a list of modules")
    kinds = [_module_kind(m) for m in modules]
    expected = ["Transformer", "Pooling", "Normalize"]
    if kinds[:2] != expected[:2] or kinds[2:] not in ([], ["Normalize"]):
        extra = [k for i, k in enumerate(kinds) if i >= len(expected) or k != expected[i]]
        raise ModelError(f"unsupported model: {modules_path} has a {', '.join(extra) or kinds[0]} module; "
                         "rag supports Transformer, Pooling (mean, cls or max) and Normalize only")
    if str(modules[0].get("path", "")) not in ("", "."):
        raise ModelError(f"unsupported model: the transformer in {modules_path} lives in "
                         f"{modules[0].get('path')!r}; rag reads it from the folder itself")
    pooling_path = model_dir / str(modules[1].get("path", "1_Pooling")) / "config.json"
    config = _json(pooling_path) if pooling_path.is_file() else {}
    if not isinstance(config, dict):
        raise ModelError(f"unsupported model: {pooling_path} is not a JSON object")
    return Pooling(_pooling_mode(config, pooling_path), normalize=len(kinds) == 3)
