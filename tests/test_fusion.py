"""Fusion of ranked lists, checked against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.search.fusion import minmax, ranked, rrf, weighted


def test_rrf_two_lists_default_k():
    fused = rrf([[1, 2, 3], [3, 1]])
    assert set(fused) == {1, 2, 3}
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2] == pytest.approx(1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert ranked(fused, 3) == [(1, fused[1]), (3, fused[3]), (2, fused[2])]


def test_rrf_ids_missing_from_one_list_get_only_the_other_term():
    fused = rrf([[10, 20], [30]], k=0.0)
    assert fused == pytest.approx({10: 1.0, 20: 0.5, 30: 1.0})


def test_rrf_weights_and_k():
    fused = rrf([[1, 2, 3], [3, 1]], k=1.0, weights=[2.0, 0.5])
    assert fused[1] == pytest.approx(2 / 2 + 0.5 / 3)
    assert fused[2] == pytest.approx(2 / 3)
    assert fused[3] == pytest.approx(2 / 4 + 0.5 / 2)


def test_rrf_k_changes_scores():
    assert rrf([[7]], k=10.0)[7] == pytest.approx(1 / 11)
    assert rrf([[7]], k=60.0)[7] == pytest.approx(1 / 61)


def test_rrf_zero_weight_list_contributes_nothing():
    fused = rrf([[1, 2], [2, 3]], k=0.0, weights=[1.0, 0.0])
    assert fused == pytest.approx({1: 1.0, 2: 0.5, 3: 0.0})


def test_rrf_accepts_numpy_ids_and_returns_python_ints():
    fused = rrf([np.array([4, 5], dtype=np.int64), np.array([5], dtype=np.int32)], k=0.0)
    assert fused == pytest.approx({4: 1.0, 5: 0.5 + 1.0})
    assert all(type(key) is int for key in fused)


def test_rrf_empty():
    assert rrf([]) == {}
    assert rrf([[], []]) == {}


@pytest.mark.parametrize("weights", [[1.0], [1.0, 2.0, 3.0], []])
def test_rrf_weights_length_mismatch_raises(weights):
    with pytest.raises(ValueError, match="weights"):
        rrf([[1, 2], [2, 1]], weights=weights)


def test_minmax_hand_values():
    assert minmax(np.array([2.0, 4.0, 3.0])).tolist() == pytest.approx([0.0, 1.0, 0.5])
    assert minmax(np.array([-1.0, 1.0])).tolist() == pytest.approx([0.0, 1.0])
    assert minmax(np.array([5.0, 5.0, 5.0])).tolist() == [1.0, 1.0, 1.0]
    assert minmax(np.array([], dtype=np.float64)).size == 0


def test_weighted_hand_values():
    dense = (np.array([1, 2, 3]), np.array([0.9, 0.5, 0.1]))  # normalized: 1, 0.5, 0
    lexical = (np.array([3, 4]), np.array([10.0, 2.0]))  # normalized: 1, 0
    fused = weighted(dense, lexical, alpha=0.5)
    assert fused == pytest.approx({1: 0.5, 2: 0.25, 3: 0.5, 4: 0.0}, abs=1e-6)
    fused = weighted(dense, lexical, alpha=0.8)
    assert fused == pytest.approx({1: 0.8, 2: 0.4, 3: 0.2, 4: 0.0}, abs=1e-6)
    assert all(type(key) is int for key in fused)


def test_weighted_alpha_extremes():
    dense = (np.array([1, 2]), np.array([3.0, 1.0]))
    lexical = (np.array([2, 1]), np.array([8.0, 4.0]))
    assert weighted(dense, lexical, alpha=1.0) == pytest.approx({1: 1.0, 2: 0.0}, abs=1e-6)
    assert weighted(dense, lexical, alpha=0.0) == pytest.approx({1: 0.0, 2: 1.0}, abs=1e-6)


def test_weighted_constant_scores_and_empty_list():
    dense = (np.array([1, 2]), np.array([0.3, 0.3]))  # constant: all ones
    lexical = (np.array([], dtype=np.int64), np.array([], dtype=np.float32))
    assert weighted(dense, lexical, alpha=0.25) == pytest.approx({1: 0.25, 2: 0.25}, abs=1e-6)


def test_ranked_ties_broken_by_id():
    fused = {5: 1.0, 2: 1.0, 9: 0.5, 1: 0.5, 3: 2.0}
    assert ranked(fused, 4) == [(3, 2.0), (2, 1.0), (5, 1.0), (1, 0.5)]
    assert ranked(fused, 10) == [(3, 2.0), (2, 1.0), (5, 1.0), (1, 0.5), (9, 0.5)]
    assert ranked(fused, 0) == []
    assert ranked({}, 3) == []


@given(st.dictionaries(st.integers(0, 50), st.sampled_from([0.0, 0.25, 0.5, 1.0]), max_size=30), st.integers(0, 40))
@settings(max_examples=100, deadline=None)
def test_ranked_is_sorted_deterministic_and_top_k(fused, k):
    out = ranked(fused, k)
    assert len(out) == min(k, len(fused))
    keys = [(-s, i) for i, s in out]
    assert keys == sorted(keys)
    assert ranked(dict(reversed(list(fused.items()))), k) == out
    if out:
        worst = (-out[-1][1], out[-1][0])
        assert all((-s, i) >= worst for i, s in fused.items() if (i, s) not in out)


def test_stopwords_match_bm25s():
    """rag.documents.tokens keeps its own copy of bm25s's English stopwords (so that searching never
    imports bm25s): the two lists agree. (The served BM25 scores are compared with bm25s in
    tests/test_index_backend.py.)"""
    from bm25s.stopwords import STOPWORDS_EN

    from rag.documents.tokens import STOPWORDS_EN as ours

    assert ours == frozenset(STOPWORDS_EN)


def test_zscore_and_dbsf_hand_values():
    from rag.search.fusion import dbsf, zscore

    s = np.array([3.0, 1.0, 2.0])  # mean 2, sd sqrt(2/3)
    sd = np.sqrt(2 / 3)
    assert zscore(s).tolist() == pytest.approx([1 / sd, -1 / sd, 0.0], abs=1e-6)
    assert dbsf(s).tolist() == pytest.approx([(1 + 3 * sd) / (6 * sd), (-1 + 3 * sd) / (6 * sd), 0.5], abs=1e-6)
    assert zscore(np.array([4.0, 4.0])).tolist() == [0.0, 0.0]
    assert dbsf(np.array([4.0, 4.0])).tolist() == [1.0, 1.0]
    assert zscore(np.array([])).size == 0 and dbsf(np.array([])).size == 0


def test_dbsf_is_not_squashed_by_one_outlier_as_minmax_is():
    from rag.search.fusion import dbsf

    s = np.array([100.0] + [10.0 - 0.1 * i for i in range(30)])
    # min-max pushes every runner-up down near 0; dbsf keeps them near the middle of [0, 1]
    assert minmax(s)[1] < 0.05
    assert dbsf(s)[1] > 0.4
    assert dbsf(s)[0] == 1.0


def test_weighted_missing_candidate_gets_that_lists_floor():
    from rag.search.fusion import zscore

    dense = (np.array([1, 2, 3]), np.array([3.0, 2.0, 1.0]))  # z: +1.22, 0, -1.22
    lexical = (np.array([4, 1]), np.array([5.0, 1.0]))  # z: +1, -1
    fused = weighted(dense, lexical, alpha=0.5, norm=zscore)
    z = np.sqrt(1.5)
    assert fused == pytest.approx({1: 0.5 * z - 0.5, 2: 0.0 - 0.5, 3: -0.5 * z - 0.5, 4: -0.5 * z + 0.5}, abs=1e-5)


@pytest.mark.parametrize("method", ["zscore", "dbsf", "weighted", "rrf"])
def test_fuse_dispatches_every_method(method):
    from rag.search.fusion import FusionParams, fuse

    dense = (np.array([1, 2, 5]), np.array([0.9, 0.8, 0.1]))
    lexical = (np.array([2, 3, 6]), np.array([7.0, 6.0, 1.0]))
    fused = fuse(FusionParams(method=method, alpha=0.5), dense, lexical)
    assert set(fused) == {1, 2, 3, 5, 6}
    assert ranked(fused, 1)[0][0] == 2  # the only candidate both lists found, near the top of each


def test_unknown_fusion_method_is_refused():
    from rag.search.fusion import FusionParams

    with pytest.raises(ValueError, match="dbsf"):
        FusionParams(method="borda")


def test_default_fusion_keeps_the_dense_score_of_a_passage_deep_in_the_dense_list():
    """Hybrid search takes DEFAULT_FUSION.depth candidates from each side (as the retriever
    slices them): a passage that BM25 ranks first and dense ranks 700th is fused with its own dense
    standard score, not with the dense list's floor (which it got when only 300 were taken)."""
    from rag.search.fusion import DEFAULT_FUSION, fuse, zscore

    n = 1200
    dense = (np.arange(n, dtype=np.int64), np.linspace(0.9, 0.1, n).astype(np.float32))
    lexical = (np.array([700, 3, 9], dtype=np.int64), np.array([9.0, 4.0, 1.0], dtype=np.float32))
    d = DEFAULT_FUSION.depth
    fused = fuse(DEFAULT_FUSION, (dense[0][:d], dense[1][:d]), (lexical[0][:d], lexical[1][:d]))
    zd = zscore(dense[1][:d])
    zl = zscore(lexical[1])
    a = DEFAULT_FUSION.alpha
    assert DEFAULT_FUSION.method == "zscore"
    assert 700 in dense[0][:d]
    assert fused[700] == pytest.approx(a * float(zd[700]) + (1 - a) * float(zl[0]), abs=1e-5)
    assert fused[700] > a * float(zd.min()) + (1 - a) * float(zl[0]) + 0.1  # well above the floor


def _weighted_by_dicts(dense, lexical, alpha, norm):
    """The convex combination written out with dicts, one candidate at a time (the reference)."""
    out, lists = {}, []
    for ids, s, w in ((dense[0], dense[1], alpha), (lexical[0], lexical[1], 1.0 - alpha)):
        v = norm(np.asarray(s, dtype=np.float32))
        lists.append((dict(zip(np.asarray(ids).tolist(), v.tolist())), float(v.min()) if v.size else 0.0, w))
    for part, _, _ in lists:
        for doc in part:
            out[doc] = 0.0
    for part, floor, w in lists:
        for doc in out:
            out[doc] += w * part.get(doc, floor)
    return out


_scored = st.lists(st.tuples(st.integers(0, 3000), st.floats(-50, 50, allow_nan=False, width=32)), max_size=120)


@settings(max_examples=200, deadline=None)
@given(_scored, _scored, st.sampled_from([0.0, 0.4, 0.6, 1.0]), st.sampled_from(["weighted", "zscore", "dbsf"]))
def test_weighted_equals_the_one_candidate_at_a_time_reference(d, lx, alpha, method):
    from rag.search.fusion import NORMS

    dense = (np.array([i for i, _ in d], dtype=np.int64), np.array([s for _, s in d], dtype=np.float32))
    lexical = (np.array([i for i, _ in lx], dtype=np.int64), np.array([s for _, s in lx], dtype=np.float32))
    got = weighted(dense, lexical, alpha=alpha, norm=NORMS[method])
    want = _weighted_by_dicts(dense, lexical, alpha, NORMS[method])
    assert got == want  # same floats: same terms added in the same order
    assert ranked(got, 15) == sorted(want.items(), key=lambda kv: (-kv[1], kv[0]))[:15]
