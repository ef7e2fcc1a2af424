"""The fast paths give the reference path's results (bench/run.py measures their speed; no timings here).

* bf16 document encoding (DocumentEncoder(precision="bf16")) vs fp32: vectors and rankings.
* DocumentEncoder (sentence-transformers with its own batching) in fp32 vs plain sentence-transformers.
* (The ONNX Runtime encoder vs the others: tests/test_embedding_paths.py and tests/test_onnx_encoder.py.)
* The approximate dense search vs exact search, recall@10: the HNSW segments that answer every
  search of a local index (LocalIndex.dense_positions, as the retriever calls it, with deleted rows
  filtered out), and the HNSW index a Ray shard builds (DenseIndex kind="hnsw", rag.distributed.shards).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED_ARTICLE = ROOT / "seeds" / "000_696ac6e15c916e66.txt"

# Observed on the bundled all-MiniLM-L6-v2 (AMD EPYC with avx512_bf16, torch 2.13): bf16 vs fp32
# per-row cosine >= 0.99994 on these 200 texts (median 0.99998),
# HNSW recall@10 0.999 on the synthetic set. The bf16 bound allows about three times the
# observed error.
MIN_COSINE_BF16 = 0.9998
MIN_RECALL_HNSW = 0.95
# 20 clusters of ~1,000 points with isotropic noise (harder for HNSW than real, anisotropic embeddings):
# the default settings give recall@10 0.999 here, efSearch=32 gives 0.94 and efSearch=10 0.72.
N_CENTERS = 20
SPREAD = 0.04

_TOPICS = [
    "Bread rises because yeast ferments sugars and releases carbon dioxide into the dough.",
    "The striker scored twice in the second half, and the home team won the cup final 3-1.",
    "Mitochondria produce most of the cell's ATP through oxidative phosphorylation.",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)",
    "SELECT name, COUNT(*) FROM orders GROUP BY name HAVING COUNT(*) > 10;",
    "The central bank raised interest rates by 0.25 percentage points to curb inflation.",
    "Glaciers in the Alps have lost about half of their volume since 1900.",
    "Le gouvernement a annoncé une réforme des retraites jeudi soir.",
    "Die Bahn fährt heute wegen eines Streiks nicht.",
    "東京は日本の首都です。",
    "Прогноз погоды на завтра: дождь и ветер.",
    "🚀 Launch at 09:30 UTC — weather permitting!",
    "Error 404: the requested page could not be found on this server.",
    "Aspirin irreversibly inhibits cyclooxygenase, reducing thromboxane synthesis in platelets.",
    "The violin concerto opens with a long, unaccompanied cadenza.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Shares of the chipmaker fell 8% after its quarterly revenue missed forecasts.",
    "Add two cups of flour, a pinch of salt and knead for ten minutes.",
    "The treaty was signed in 1648, ending the Thirty Years' War.",
    "Randomized controlled trials reduce confounding by balancing unknown covariates.",
    "a",
    "?",
    "1234567890",
    "the the the the the the the the",
    "OK",
    "Nothing to see here.",
    "HIV-1 integrase inhibitors block strand transfer of viral DNA into the host genome.",
    "The marathon route passes the harbour, the old town and the university.",
    "Quantum entanglement does not allow faster-than-light communication.",
    "Use `git rebase -i HEAD~3` to squash the last three commits.",
]


def _article_texts() -> list[str]:
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    sentences = [s for p in paragraphs for s in re.split(r"(?<=[.!?])\s+", p) if len(s) > 20]
    return paragraphs + sentences


def _varied_texts(n: int = 200) -> list[str]:
    """About n distinct texts: the seed article's paragraphs and sentences, other topics and
    languages, code, very short strings, and a few longer than the model's 256 word-pieces."""
    article = _article_texts()
    long_texts = [" ".join(article[i : i + 12]) for i in range(0, 36, 12)]  # truncated by the model
    pairs = [f"{a} {b}" for k in (7, 13, 19, 23) for a, b in zip(_TOPICS, _TOPICS[k:] + _TOPICS[:k])]
    out, seen = [], set()
    for t in article + _TOPICS + long_texts + pairs:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out[:n]


QUERIES = [
    "How many participants and observers are expected in Sochi?",
    "Who rejected the Sochi peace talks?",
    "What does Washington want in Syria?",
    "yeast makes bread dough rise",
    "which drug inhibits platelets",
    "football final result",
    "interest rates and inflation",
]


def _questions() -> list[str]:
    """About 100 varied question strings: real questions, keyword queries, odd inputs."""
    qs = list(QUERIES)
    for s in _article_texts()[:60]:
        words = s.split()
        qs.append(" ".join(words[: max(3, len(words) // 3)]) + "?")
    qs += [t[:80] for t in _TOPICS]
    qs += ["", " ", "x", "Sochi", "SOCHI PEACE TALKS!!!", "sochi   peace\ttalks", "¿Qué pasa en Sochi?",
           "a " * 300, "what is 2+2", "ATP", "C++ vs Rust", "naïve café résumé"]
    return [q for q in qs if q.strip()][:100]


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def texts() -> list[str]:
    t = _varied_texts()
    assert len(t) >= 190
    return t


@pytest.fixture(scope="module")
def fp32_encoder():
    from rag.embedding.document_encoder import DocumentEncoder

    enc = DocumentEncoder(precision="fp32")
    enc.CHUNK = 64  # several chunks for the ~200 texts, so the chunked path runs here
    return enc


@pytest.fixture(scope="module")
def fp32_vectors(fp32_encoder, texts) -> np.ndarray:
    return fp32_encoder.encode(texts)


@pytest.fixture(scope="module")
def bf16_vectors(texts) -> np.ndarray:
    from rag.embedding.document_encoder import DocumentEncoder

    return DocumentEncoder(precision="bf16").encode(texts)


def _row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# ------------------------------------------------------------------------------- (a) bf16 vs fp32
@pytest.mark.e2e
@pytest.mark.slow
def test_bf16_document_vectors_match_fp32(fp32_vectors, bf16_vectors, texts):
    assert bf16_vectors.shape == fp32_vectors.shape == (len(texts), 384)
    assert bf16_vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(bf16_vectors, axis=1), 1.0, atol=1e-4)
    cos = _row_cosines(bf16_vectors, fp32_vectors)
    worst = int(np.argmin(cos))
    assert cos.min() >= MIN_COSINE_BF16, f"cosine {cos.min():.6f} for {texts[worst][:60]!r}"
    # Not trivially identical: the bf16 path really ran (else this test proves nothing).
    assert not np.array_equal(bf16_vectors, fp32_vectors)


@pytest.mark.e2e
@pytest.mark.slow
def test_bf16_rankings_match_fp32(fp32_encoder, fp32_vectors, bf16_vectors):
    q = fp32_encoder.encode(QUERIES)
    for i, question in enumerate(QUERIES):
        scores = fp32_vectors @ q[i]
        ref = np.argsort(-scores, kind="stable")[:6]
        # The premise: the reference ranks its top 6 by real margins (bf16 moves scores by ~1e-3 at most).
        assert np.min(-np.diff(scores[ref])) >= 1e-3, f"near-tie in the fp32 top 6 for {question!r}"
        got = np.argsort(-(bf16_vectors @ q[i]), kind="stable")[:5].tolist()
        assert got == ref[:5].tolist(), f"top-5 differ for {question!r}"


@pytest.mark.e2e
@pytest.mark.slow
def test_fp32_document_encoder_matches_sentence_transformers(fp32_encoder, fp32_vectors, texts):
    """DocumentEncoder wraps sentence-transformers; what it adds (longest-first order, chunks with
    progress and cancellation, autocast, re-normalizing, writing rows back in input order) must not
    change a vector: in fp32 it gives plain ``SentenceTransformer.encode``'s vectors, row for row,
    padded batches and truncation included."""
    from sentence_transformers import SentenceTransformer

    from rag.embedding.model import default_model_dir

    st = SentenceTransformer(str(default_model_dir()), device="cpu", local_files_only=True)
    ref = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    # The premise: input order is not longest-first, so rows written back in the wrong order would
    # show; and there is more than one chunk.
    assert [len(t) for t in texts] != sorted((len(t) for t in texts), reverse=True)
    assert len(texts) > fp32_encoder.CHUNK
    cos = _row_cosines(fp32_vectors, ref)
    worst = int(np.argmin(cos))
    assert cos.min() >= 0.99999, f"cosine {cos.min():.7f} for {texts[worst][:60]!r}"
    assert sum(len(fp32_encoder.token_ends(t)) > 256 for t in texts) >= 2  # truncated at the model's window


# ------------------------------------------------------------------------------- (c) HNSW recall
def _clustered(n: int, centers: np.ndarray, spread: float, rng) -> np.ndarray:
    """Unit vectors around the given unit centers; ``spread`` sets nearest-neighbour cosines."""
    x = centers[rng.integers(0, len(centers), n)] + spread * rng.standard_normal((n, centers.shape[1])).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def clustered() -> tuple[np.ndarray, np.ndarray]:
    """20,000 passage vectors and 300 questions from the same clusters (not copies of points)."""
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((N_CENTERS, 384)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    return _clustered(20_000, centers, SPREAD, rng), _clustered(300, centers, SPREAD, rng)


def _recall(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx.tolist(), exact.tolist())]))


def _exact_top10(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    exact = np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :10]
    # Realistic neighbourhoods: nearest-neighbour cosines like MiniLM's (0.5-0.9), not duplicates.
    assert 0.5 < float(np.median((x[exact[:, 0]] * q).sum(1))) < 0.9
    return exact


@pytest.mark.slow
def test_hnsw_segment_recall_against_exact(clustered, tmp_path):
    """What serves: an index whose segment is HNSW (as any segment of APPROX_THRESHOLD rows or more;
    the threshold is lowered so that 20,000 rows suffice), a tenth of its rows deleted by a later
    commit, searched through LocalIndex.dense_positions against exact search over the live rows."""
    from rag.index.backend import Record
    from rag.index.local import LocalIndex

    x, q = clustered
    with LocalIndex.open(tmp_path / "idx", writable=True, dim=x.shape[1], hnsw_threshold=10_000) as w:
        w.upsert(Record(f"p{i}", x[i], ["w"], {"i": i}) for i in range(len(x)))
        w.commit()
        w.delete(f"p{i}" for i in range(0, len(x), 10))
        w.commit()
    with LocalIndex.open(tmp_path / "idx") as r:
        assert [(s["kind"], s["rows"], s["deleted"]) for s in r.segments()] == [("hnsw", 20_000, 2_000)]
        live = np.array([r.payload_at(p)["i"] for p in range(r.count())])
        assert len(live) == 18_000 and not np.any(live % 10 == 0)
        _, pos = r.dense_positions(q, 10)
    got = live[pos]  # positions back to rows of x
    exact = live[_exact_top10(x[live], q)]
    assert not np.any(got % 10 == 0)  # never a deleted row
    recall = _recall(got, exact)
    assert recall >= MIN_RECALL_HNSW, f"HNSW segment recall@10 {recall:.3f}"


@pytest.mark.slow
def test_shard_hnsw_recall_against_exact(clustered):
    """What a Ray shard searches (rag.distributed.shards.Shard builds DenseIndex, HNSW from
    APPROX_THRESHOLD rows)."""
    from rag.index.dense import DenseIndex

    x, q = clustered
    hnsw = DenseIndex.build(x, kind="hnsw")
    assert hnsw.kind == "hnsw" and hnsw.size == len(x)
    _, approx = hnsw.search(q, 10)
    recall = _recall(approx, _exact_top10(x, q))
    assert recall >= MIN_RECALL_HNSW, f"DenseIndex HNSW recall@10 {recall:.3f}"
