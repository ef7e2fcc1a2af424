"""Pooling as the model folder declares it: CLS and max pooling give sentence-transformers' vectors
through the ONNX Runtime export; what they cannot reproduce is refused in one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.errors import ModelError
from rag.embedding.model import default_model_dir, model_info
from rag.embedding.pooling import Pooling, read_pooling

ROOT = Path(__file__).resolve().parents[1]
MIN_COSINE = 0.9999


def make_variant(dst: Path, pooling: dict | None = None, modules: list | None = None,
                 st_config: dict | None = None) -> Path:
    """A copy of the bundled model folder (large files linked, not copied) with its pooling config,
    module list or sentence-transformers config replaced."""
    src = default_model_dir()
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("model.safetensors"))
    (dst / "model.safetensors").symlink_to(src / "model.safetensors")
    if pooling is not None:
        (dst / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")
    if modules is not None:
        (dst / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    if st_config is not None:
        (dst / "config_sentence_transformers.json").write_text(json.dumps(st_config), encoding="utf-8")
    return dst


def legacy(mode: str) -> dict:
    keys = {"cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens", "max": "pooling_mode_max_tokens",
            "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens",
            "weightedmean": "pooling_mode_weightedmean_tokens", "lasttoken": "pooling_mode_lasttoken"}
    return {"word_embedding_dimension": 384, **{k: (m == mode) for m, k in keys.items()}}


MODULES = json.loads((default_model_dir() / "modules.json").read_text(encoding="utf-8"))
DENSE = {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}


# --------------------------------------------------------------------------- reading the folder


def test_the_bundled_model_pools_by_mean_and_normalizes() -> None:
    assert read_pooling(default_model_dir()) == Pooling("mean", normalize=True)


@pytest.mark.parametrize("config, mode", [
    (legacy("cls"), "cls"), (legacy("max"), "max"), (legacy("mean"), "mean"),
    ({"embedding_dimension": 384, "pooling_mode": "max"}, "max"),  # sentence-transformers >= 5
    ({"embedding_dimension": 384, "pooling_mode": ["cls"]}, "cls"),
    ({"word_embedding_dimension": 384}, "mean"),  # no mode set: sentence-transformers' default
])
def test_supported_pooling_is_read(tmp_path: Path, config: dict, mode: str) -> None:
    assert read_pooling(make_variant(tmp_path / "m", pooling=config)).mode == mode


def test_without_normalize_module(tmp_path: Path) -> None:
    assert read_pooling(make_variant(tmp_path / "m", modules=MODULES[:2])) == Pooling("mean", normalize=False)


UNSUPPORTED = {
    "dense": ({"modules": [*MODULES[:2], DENSE]}, "Dense"),
    "dense-then-normalize": ({"modules": [*MODULES[:2], DENSE, {**MODULES[2], "idx": 3}]}, "Dense"),
    "other-module": ({"modules": [*MODULES, {"idx": 3, "name": "3", "path": "", "type": "my_pkg.Reranker"}]},
                     "my_pkg.Reranker"),
    "weightedmean": ({"pooling": legacy("weightedmean")}, "weightedmean"),
    "lasttoken": ({"pooling": {"embedding_dimension": 384, "pooling_mode": "lasttoken"}}, "lasttoken"),
    "mean-sqrt-len": ({"pooling": legacy("mean_sqrt_len_tokens")}, "mean_sqrt_len_tokens"),
    "two-modes": ({"pooling": {**legacy("cls"), "pooling_mode_max_tokens": True}}, "combines"),
    "default-prompt": ({"st_config": {"prompts": {"query": "query: "}, "default_prompt_name": "query"}}, "prompt"),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_models_are_refused_in_one_line(tmp_path: Path, case: str) -> None:
    from rag.embedding.document_encoder import DocumentEncoder

    change, named = UNSUPPORTED[case]
    variant = make_variant(tmp_path / "m", **change)
    for load in (model_info, DocumentEncoder, read_pooling):
        with pytest.raises(ModelError) as err:
            load(variant)
        msg = str(err.value)
        assert "\n" not in msg and msg.startswith("unsupported model") and named in msg, msg


def test_cli_refuses_an_unsupported_model_in_one_line(tmp_path: Path) -> None:
    variant = make_variant(tmp_path / "m", modules=[*MODULES[:2], DENSE])
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "a.txt").write_text("Bread rises because yeast makes gas.\n", encoding="utf-8")
    env = {**os.environ, "RAG_MODEL": str(variant), "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "rag", "index", "--seeds", str(tmp_path / "seeds"),
                        "--index", str(tmp_path / "index")], capture_output=True, text=True, env=env, timeout=300)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1 and len(lines) == 1, p.stderr
    assert lines[0].startswith("rag: unsupported model") and "Dense" in lines[0], p.stderr
    from rag.index import store
    from rag.errors import IndexMissingError

    with pytest.raises(IndexMissingError):  # nothing was published
        store.open_current(tmp_path / "index")


# --------------------------------------------------------------------------- equal to sentence-transformers


TEXTS = [
    "How many participants and observers are expected in Sochi?",
    "a",
    "Ökonomie, café & naïve résumé: 42 × 7 = 294 — see §3.1!",
    "量子コンピュータ は 何 ですか",
    "security measures for the Olympic games",
    " ".join(["mitochondrial dysfunction in aged neurons drives inflammation"] * 60),  # truncated
]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.einsum("ij,ij->i", a.astype(np.float64), b.astype(np.float64))


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("mode", ["cls", "max"])
def test_fast_encoders_equal_sentence_transformers(tmp_path: Path, mode: str, monkeypatch) -> None:
    from sentence_transformers import SentenceTransformer

    from rag.embedding import document_encoder as embed
    from rag.embedding.onnx_encoder import load_query_encoder
    from rag.embedding.onnx_export import export

    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    variant = make_variant(tmp_path / "m", pooling=legacy(mode))
    st = SentenceTransformer(str(variant), device="cpu", local_files_only=True)
    ref = st.encode(TEXTS, convert_to_numpy=True, show_progress_bar=False)
    info = model_info(variant)
    mean = model_info(default_model_dir())
    assert info.weights_sha256 == mean.weights_sha256  # same weights: only the pooling differs
    # the variant's vectors really differ from mean pooling's, so the test can tell them apart
    assert _cosines(ref, embed.DocumentEncoder(default_model_dir(), precision="fp32").encode(TEXTS)).min() < 0.99

    if mode == "cls":  # the torch exporter (models bert_graph does not build) checks against sentence-transformers
        from rag.embedding.encoder_cache import ExportLock
        from rag.embedding.onnx_export import _export_torch_locked

        real_pool = embed.pool
        monkeypatch.setattr(embed, "pool", lambda m, i, a, p: real_pool(m, i, a, type(p)("mean")))
        with ExportLock(info), pytest.raises(ModelError, match="disagrees with sentence-transformers"):
            _export_torch_locked(info, st)
        monkeypatch.setattr(embed, "pool", real_pool)
    export(info, st)  # a BERT: built from the weights with the folder's pooling
    onnx_enc = load_query_encoder(variant, info)
    assert onnx_enc.path_name == "onnxruntime"
    got = np.vstack([onnx_enc.encode(TEXTS), *(onnx_enc.encode([t]) for t in TEXTS)])
    cos = _cosines(got, np.vstack([ref, ref]))
    assert cos.min() >= MIN_COSINE, f"onnx, {mode}: min cosine {cos.min():.6f}"

    # the folder's pooling changes (same weights): the export is no longer trusted
    from rag.embedding.encoder_cache import export_is_current

    assert export_is_current(info)
    (variant / "1_Pooling" / "config.json").write_text(json.dumps(legacy("mean")), encoding="utf-8")
    assert not export_is_current(info)
    assert isinstance(load_query_encoder(variant, info), embed.TorchQueryEncoder)


def test_a_pooling_change_is_a_model_change(tmp_path: Path) -> None:
    """Same weights, other pooling: the build must not reuse vectors pooled the old way."""
    from rag.indexing.manifest import same_model

    mean, cls = model_info(default_model_dir()), model_info(make_variant(tmp_path / "m", pooling=legacy("cls")))
    assert (mean.pooling, cls.pooling) == ("mean", "cls") and mean.weights_sha256 == cls.weights_sha256
    manifest = {"model": {**mean.to_json(), "name": cls.name}}
    assert same_model(manifest, mean.__class__(**{**mean.to_json(), "name": cls.name}))
    assert not same_model(manifest, cls)


def test_an_index_refuses_questions_when_the_folder_pooling_changed(tmp_path: Path, seeds: Path, fake_encoder) -> None:
    """Built with mean pooling; the folder now says cls: one line, rather than mismatched vectors."""
    from rag import Retriever, build_index
    from rag.errors import IndexMismatchError

    variant = make_variant(tmp_path / "m")
    build_index(seeds, tmp_path / "index", encoder=fake_encoder)
    r = Retriever.open(tmp_path / "index", encoder=fake_encoder)
    r._encoder = None  # not loaded yet: the next question loads the query encoder of the manifest's model
    r.manifest["model"].update(path=str(variant), pooling="mean")  # as a real build of this folder records
    (variant / "1_Pooling" / "config.json").write_text(json.dumps(legacy("cls")), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="now declares cls pooling") as err:
        r.encoder()
    assert "\n" not in str(err.value)
