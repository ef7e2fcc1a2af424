"""The ONNX graph built from the model's weights without torch (rag.embedding.bert_graph) equals
sentence-transformers, and a first build in a fresh user cache never imports torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embedding_texts import MIN_COSINE, TEXTS, st_encode
from rag.embedding import bert_graph
from rag.embedding.model import default_model_dir, model_info
from rag.errors import ModelError

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "000_696ac6e15c916e66.txt"
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VARIED = [
    "How many participants and observers are expected in Sochi?",
    "a",
    "",
    "Ökonomie, café & naïve résumé: 42 × 7 = 294 (approx.) — see §3.1!",
    "量子コンピュータ は 何 ですか 🙂 👨‍👩‍👧 مرحبا بالعالم",
    " ".join(["mitochondrial dysfunction in aged neurons drives inflammation"] * 60),  # > 512 word-pieces
    " ".join(f"token{i}" for i in range(300)),  # > 256 word-pieces
] + TEXTS[:60]


@pytest.fixture(scope="module")
def st_model():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(default_model_dir()), device="cpu", local_files_only=True)


@pytest.fixture(scope="module")
def session():
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    model = bert_graph.build_model(default_model_dir())
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _run(session, texts: list[str], max_tokens: int, batch: bool) -> np.ndarray:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(default_model_dir() / "tokenizer.json"))
    tok.enable_truncation(max_tokens)
    out = []
    groups = [texts] if batch else [[t] for t in texts]
    for group in groups:
        tok.enable_padding() if batch else tok.no_padding()
        encs = tok.encode_batch(group)
        ids = np.asarray([e.ids for e in encs], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encs], dtype=np.int64)
        (v,) = session.run(None, {"input_ids": ids, "attention_mask": mask})
        out.append(v)
    return np.vstack(out)


def test_texts_cover_the_limits() -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(default_model_dir() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    lengths = [len(tok.encode(t).ids) for t in VARIED]
    assert max(lengths) > 512 and any(256 < n <= 512 for n in lengths) and min(lengths) <= 2
    assert model_info(default_model_dir()).max_tokens == 256  # the model's max_seq_length


@pytest.mark.parametrize("max_tokens", [256, 512])
@pytest.mark.parametrize("batch", [False, True], ids=["alone", "padded-batch"])
def test_graph_equals_sentence_transformers(st_model, session, max_tokens: int, batch: bool) -> None:
    """Truncated at the model's limit (256) and at its 512 positions, one text at a time and in one
    padded batch (the attention mask and the mean over it)."""
    st_model.max_seq_length = max_tokens
    try:
        ref = st_encode(st_model, VARIED)
    finally:
        st_model.max_seq_length = 256
    got = _run(session, VARIED, max_tokens, batch)
    cos = np.einsum("ij,ij->i", got.astype(np.float64), ref.astype(np.float64))
    k = int(np.argmin(cos))
    assert cos[k] >= MIN_COSINE, (cos[k], VARIED[k][:60])
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_graph_is_not_sentence_transformers_with_another_pooling(st_model) -> None:
    """The comparison can fail: CLS pooling of the same weights is far from the model's vectors."""
    import onnxruntime as ort

    from rag.embedding.pooling import Pooling

    model = bert_graph.build_model(default_model_dir(), Pooling("cls"))
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = _run(s, VARIED[:5], 256, batch=False)
    assert np.einsum("ij,ij->i", got, st_encode(st_model, VARIED[:5])).min() < 0.99


def test_unsupported_models_are_named(tmp_path: Path) -> None:
    d = tmp_path / "m"
    shutil.copytree(default_model_dir(), d, ignore=shutil.ignore_patterns("model.safetensors"))
    assert "safetensors" in bert_graph.unsupported_reason(d)
    cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
    (d / "config.json").write_text(json.dumps({**cfg, "model_type": "mpnet"}), encoding="utf-8")
    assert "mpnet" in bert_graph.unsupported_reason(d)
    with pytest.raises(ModelError, match="mpnet"):
        bert_graph.build_model(d)


def test_first_build_in_a_fresh_cache_never_imports_torch(tmp_path: Path) -> None:
    """A fresh clone: no index, an empty user cache. The build exports the query encoder from the
    weights (no torch), embeds the seed article with it, and the first question is answered by it."""
    (tmp_path / "seeds").mkdir()
    shutil.copy(SEED, tmp_path / "seeds" / SEED.name)
    code = (
        "import json, sys; from rag import Retriever, build_index\n"
        "s = build_index(sys.argv[1], sys.argv[2], export_query_encoder='background')\n"
        "r = Retriever.open(sys.argv[2]); hit = r.search('How many participants and observers are expected in Sochi?', k=1)[0]\n"
        "print(json.dumps([s.encoder, s.embedded, r.encoder().path_name, hit.line_start,\n"
        "  sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules)]))"
    )
    env = {**os.environ, "RAG_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path / "seeds"), str(tmp_path / "index")],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr
    encoder, embedded, query_path, line, heavy = json.loads(p.stdout.strip().splitlines()[-1])
    assert (encoder, query_path, line, heavy) == ("onnxruntime", "onnxruntime", 49, [])
    assert embedded == 36  # the seed article without its comment-form chrome
    enc_dir = tmp_path / "cache" / "encoders"
    assert [p.name for p in enc_dir.glob("*.json")] and not list(enc_dir.glob(".tmp-*"))
