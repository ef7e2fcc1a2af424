"""One document-embedding path (issue 10, item 5): a passage's vector does not depend on which
encoder embedded it, nor on how many passages were embedded with it.

The paths a build or a search can take for one index (rag.indexing.encoders.passage_encoder,
rag.embedding.onnx_encoder.load_query_encoder):
* the ONNX Runtime export (fp32, its graph built from the weights by rag.embedding.bert_graph) --
  every build's passages and every question, whatever their number;
* sentence-transformers in process (DocumentEncoder, precision "auto": bf16 on CPUs with native
  bf16, else fp32) -- only while no export exists (a model bert_graph does not build, a failed
  export), for passages and questions (TorchQueryEncoder) alike.
Every pair agrees to cosine >= 0.9999 on real texts (the seed article's passages and varied
texts: languages, emoji, markup, numbers, texts truncated at the model's limit), whether the text
was embedded alone or in a large padded batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embedding_texts import MIN_COSINE, TEXTS
from rag import Retriever
from rag.embedding.document_encoder import DocumentEncoder, TorchQueryEncoder, cpu_has_bf16
from rag.embedding.model import default_model_dir, model_info
from rag.embedding.onnx_encoder import load_export
from rag.embedding.onnx_session import OnnxQueryEncoder

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def texts(real_index: Path) -> list[str]:
    r = Retriever.open(real_index)
    return [r.passages[i].text for i in range(len(r.passages))] + TEXTS


@pytest.fixture(scope="module")
def vectors(real_index: Path, texts: list[str]) -> dict[str, np.ndarray]:
    d = default_model_dir()
    info = model_info(d)
    onnx = load_export(d, info)  # the session's export (real_index made it)
    assert isinstance(onnx, OnnxQueryEncoder)
    auto = DocumentEncoder(d)
    fp32 = DocumentEncoder(d, precision="fp32")
    fallback = TorchQueryEncoder(d, info)
    out = {
        f"torch-{auto.precision} batch": auto.encode(texts),
        "torch-fp32 batch": fp32.encode(texts),
        "onnx batch": onnx.encode(texts),
        "onnx one at a time": np.vstack([onnx.encode([t]) for t in texts]),
        f"{fallback.path_name} one at a time": np.vstack([fallback.encode([t]) for t in texts]),
    }
    if cpu_has_bf16():  # the bf16 path is what builds use here: also measure it one text at a time
        out["torch-bf16 in batches of 5"] = np.vstack([auto.encode(texts[i : i + 5]) for i in range(0, len(texts), 5)])
    return out


def test_texts_are_varied_and_real(texts: list[str]) -> None:
    assert len(texts) > 250 and any(len(t) > 2000 for t in texts) and any(len(t) < 3 for t in texts)


def test_every_pair_of_paths_agrees(vectors: dict[str, np.ndarray], texts: list[str]) -> None:
    names = sorted(vectors)
    assert len(names) >= 5
    worst = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            cos = np.einsum("ij,ij->i", vectors[a].astype(np.float64), vectors[b].astype(np.float64))
            k = int(np.argmin(cos))
            worst.append((float(cos[k]), a, b, texts[k][:60]))
    worst.sort()
    assert worst[0][0] >= MIN_COSINE, worst[:3]


def test_vectors_are_unit_length(vectors: dict[str, np.ndarray]) -> None:
    for name, v in vectors.items():
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4, err_msg=name)
