"""The cheap paths of a cold `rag ask` (issue 10, cold-ask target) give what the paths they replace
give: numpy's exact search of a small flat segment equals FAISS's IndexFlatIP (with deleted rows),
and the query encoder's own truncation over the shared tokenizer equals the tokenizer's truncation."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embedding.model import default_model_dir, model_info, word_pieces
from rag.index.segments import NUMPY_FLAT_MAX, _numpy_flat_search


@pytest.mark.parametrize("rows,n,deleted", [(47, 10, []), (300, 10, [0, 5, 17, 299]), (NUMPY_FLAT_MAX, 50, list(range(0, 900, 3))),
                                            (12, 12, [3])])
def test_numpy_flat_search_equals_faiss_flat(rows, n, deleted):
    import faiss

    rng = np.random.default_rng(rows)
    vecs = rng.standard_normal((rows, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    vecs[7 % rows] = vecs[1 % rows]  # an exact tie (FAISS orders ties as its heap leaves them)
    queries = np.vstack([vecs[1 % rows], rng.standard_normal((3, 384)).astype(np.float32)])
    deleted = np.asarray(deleted, dtype=np.int64)
    n = min(n, rows - len(deleted))
    index = faiss.IndexFlatIP(384)
    index.add(vecs)
    params = faiss.SearchParameters()
    params.sel = faiss.IDSelectorNot(faiss.IDSelectorBatch(deleted)) if len(deleted) else None
    ref_scores, ref_rows = index.search(queries, n, params=params) if len(deleted) else index.search(queries, n)
    scores, got = _numpy_flat_search(vecs, queries, n, deleted)
    assert got.dtype == np.int64 and got.shape == ref_rows.shape
    tie = {1 % rows, 7 % rows}
    for g, r in zip(got, ref_rows):  # equal, except that tied rows may come in either order
        same = [a == b or {a, b} <= tie for a, b in zip(g.tolist(), r.tolist())]
        assert all(same), (g, r)
    assert got[0][0] == min(tie - set(deleted.tolist()))  # ties by row here
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-6)
    assert not set(got.ravel()) & set(deleted.tolist())


LONG = " ".join(["mitochondrial dysfunction in aged neurons drives inflammation"] * 60)


@pytest.mark.parametrize("text", ["", "a", "Ökonomie, café & naïve résumé", "量子 " * 400, LONG, "x" * 5000])
def test_query_truncation_equals_the_tokenizers_own(text):
    from tokenizers import Tokenizer

    from rag.embedding.onnx_encoder import OnnxQueryEncoder

    d = default_model_dir()
    info = model_info(d)
    ref = Tokenizer.from_file(str(d / "tokenizer.json"))
    ref.no_padding()
    ref.enable_truncation(max_length=info.max_tokens)
    enc = OnnxQueryEncoder.__new__(OnnxQueryEncoder)  # only the tokenizing half
    enc.info = info
    enc._tokenizer = word_pieces(str(d)).tokenizer
    enc._specials = enc._tokenizer.num_special_tokens_to_add(False)
    got, want = enc._encode_one(text), ref.encode(text)
    assert got.ids == want.ids and got.attention_mask == want.attention_mask
    assert len(got.ids) <= info.max_tokens


def test_static_vectors_share_the_tokenizer_and_leave_it_untruncated():
    from rag.embedding.static_vectors import StaticVectors

    d = default_model_dir()
    sv = StaticVectors.load(d)
    assert sv.tokenizer is word_pieces(str(d)).tokenizer
    assert sv.tokenizer.truncation is None and sv.tokenizer.padding is None
