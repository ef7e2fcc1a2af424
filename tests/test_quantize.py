"""The int8 export (rag.embedding.quantize, issue 26): the precision of an index's passages, chosen per
index and recorded in its manifest, kept by later builds; questions are embedded in fp32 whatever it
is; an export on disk that holds another precision is refused."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rag import Retriever, build_index
from rag.embedding.encoder_cache import encoder_key, encoder_paths
from rag.embedding.model import default_model_dir, model_info, recorded_model
from rag.embedding.quantize import check_precision
from rag.errors import ModelError
from rag.indexing.manifest import model_info_for, same_model


# --------------------------------------------------------------------------- identity, no model run
def test_precision_is_part_of_the_model_identity_and_of_the_export_name() -> None:
    info = model_info(default_model_dir())
    int8 = replace(info, precision="int8")
    assert encoder_key(info) != encoder_key(int8) and encoder_key(int8).endswith("-int8")
    recorded = {"model": int8.to_json()}
    assert same_model(recorded, int8) and not same_model(recorded, info)
    assert same_model({"model": {k: v for k, v in info.to_json().items() if k != "precision"}}, info)  # older index
    assert recorded_model(int8.to_json())[1].precision == "int8"
    with pytest.raises(ValueError, match="fp32, int8"):
        check_precision("int4")


def test_a_build_keeps_the_precision_of_the_version_it_builds_on() -> None:
    info = model_info(default_model_dir())
    for kept in ("fp32", "int8"):
        prev = {"model": {**replace(info, precision=kept).to_json(), "stamp": None}}
        assert model_info_for(None, None, prev).precision == kept
        assert model_info_for(None, None, prev, "fp32").precision == "fp32"  # asked for: another one
    other = {"model": {**info.to_json(), "weights_sha256": "0" * 64, "precision": "fp32"}}
    assert model_info_for(None, None, other, "int8").precision == "int8"


def test_a_new_index_takes_its_precision_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("RAG_PASSAGE_PRECISION", raising=False)
    assert model_info_for(None, None, None).precision == "fp32"
    monkeypatch.setenv("RAG_PASSAGE_PRECISION", "int8")
    assert model_info_for(None, None, None).precision == "int8"
    info = model_info(default_model_dir())
    assert model_info_for(None, None, {"model": {**info.to_json(), "stamp": None}}).precision == "fp32"  # kept
    monkeypatch.setenv("RAG_PASSAGE_PRECISION", "fp16")
    with pytest.raises(ModelError, match="RAG_PASSAGE_PRECISION: embedding precision must be one of fp32, int8"):
        model_info_for(None, None, None)


# --------------------------------------------------------------------------- the real export
@pytest.mark.e2e
def test_int8_index_embeds_passages_and_questions_with_the_int8_export(real_seeds: Path, tmp_path: Path) -> None:
    seeds, index = tmp_path / "seeds", tmp_path / "idx"
    shutil.copytree(real_seeds, seeds)
    stats = build_index(seeds, index, precision="int8")
    assert stats.encoder == "onnxruntime" and stats.embedded > 0
    r = Retriever.open(index)
    assert r.manifest["model"]["precision"] == "int8"
    enc = r.encoder()  # questions: the fp32 export, whatever the passages' precision
    assert enc.info.precision == "fp32" and enc.onnx_path == encoder_paths(enc.info)[0]
    int8 = replace(enc.info, precision="int8")
    meta = json.loads(encoder_paths(int8)[1].read_text(encoding="utf-8"))
    assert meta["precision"] == "int8" and 0.98 <= meta["min_probe_cosine"] < 1.0
    hit = r.search("How many participants and observers are expected in Sochi?", k=1)[0]
    assert "1,500 participants" in hit.text
    # the build's encoder: passages in int8, the confidence model's questions as a search embeds them
    from rag.indexing.encoders import passage_encoder

    built_with = passage_encoder(int8)
    q = ["How many participants and observers are expected in Sochi?"]
    assert np.allclose(built_with.encode_queries(q), enc.encode(q), atol=1e-6)
    assert float(np.dot(built_with.encode(q)[0], enc.encode(q)[0])) < 0.99999

    # the int8 vectors are close to fp32's, not equal
    fp32 = build_index(seeds, tmp_path / "fp32", precision="fp32")
    assert fp32.embedded == stats.embedded
    a, b = Retriever.open(index).vectors, Retriever.open(tmp_path / "fp32").vectors
    cos = np.sum(np.asarray(a) * np.asarray(b), axis=1)
    assert 0.97 < float(cos.min()) and float(cos.max()) < 0.99999

    # a later build keeps int8; asking for fp32 embeds every passage again
    (seeds / "zz-int8-note.txt").write_text("Quantized notes are embedded in int8.\n", encoding="utf-8")
    again = build_index(seeds, index)
    assert again.embedded == 1 and Retriever.open(index).manifest["model"]["precision"] == "int8"
    back = build_index(seeds, index, precision="fp32")
    assert back.embedded == stats.embedded + 1 and Retriever.open(index).manifest["model"]["precision"] == "fp32"


@pytest.mark.e2e
def test_an_export_of_another_precision_is_refused(real_index: Path, tmp_path: Path, monkeypatch) -> None:
    from rag.embedding.onnx_encoder import load_export
    from rag.embedding.onnx_export import export

    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    info = replace(model_info(default_model_dir()), precision="int8")
    export(info)
    onnx_path, meta_path = encoder_paths(info)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta_path.write_text(json.dumps({**meta, "precision": "fp32"}), encoding="utf-8")
    with pytest.raises(ModelError, match="holds fp32 weights, not int8"):
        load_export(Path(info.path), info)
