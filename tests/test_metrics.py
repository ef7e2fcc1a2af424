"""Metrics against hand-computed values, and `rag eval` on a tiny BEIR folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fakes import FakeEncoder
from rag.evaluation import beir
from rag.errors import DataError
from rag.evaluation.evaluate import evaluate
from rag.evaluation.metrics import mrr_at, ndcg_at, percentile, recall_at


def test_ndcg_hand_computed():
    rel = {"a": 1, "b": 1}
    # relevant at ranks 1 and 3: (1 + 1/log2(4)) / (1 + 1/log2(3))
    assert ndcg_at(["a", "x", "b"], rel, 10) == pytest.approx((1 + 0.5) / (1 + 1 / math.log2(3)))
    assert ndcg_at(["a", "b"], rel, 10) == pytest.approx(1.0)
    assert ndcg_at(["x", "y"], rel, 10) == 0.0
    # graded relevance uses linear gain (pytrec_eval): ideal order is 2 then 1
    graded = {"a": 1, "b": 2}
    assert ndcg_at(["a", "b"], graded, 10) == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))
    # only the top k count
    assert ndcg_at(["x", "a"], {"a": 1}, 1) == 0.0
    assert ndcg_at([], {}, 10) == 0.0


def test_recall_and_mrr_hand_computed():
    rel = {"a": 1, "b": 1, "c": 0}
    assert recall_at(["a", "x", "b"], rel, 2) == 0.5
    assert recall_at(["a", "x", "b"], rel, 3) == 1.0
    assert mrr_at(["x", "c", "b"], rel, 10) == pytest.approx(1 / 3)
    assert mrr_at(["x", "y"], rel, 10) == 0.0
    assert mrr_at(["x", "a"], rel, 1) == 0.0


def test_percentile_matches_numpy_linear():
    import numpy as np

    xs = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0]
    for q in (0, 25, 50, 90, 99, 100):
        assert percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)))


@pytest.fixture
def tiny_beir(tmp_path: Path) -> Path:
    d = tmp_path / "tiny"
    d.mkdir()
    docs = [
        {"_id": "d1", "title": "Owls", "text": "Owls hunt mice at night. They fly silently."},
        {"_id": "d2", "title": "Bread", "text": "Yeast makes bread rise. Ovens bake it."},
        {"_id": "d3", "title": "Ships", "text": "Ships sail the harbour. Sailors repair hulls."},
    ]
    (d / "corpus.jsonl").write_text("\n".join(json.dumps(x) for x in docs) + "\n", encoding="utf-8")
    qs = [{"_id": "q1", "text": "owls hunt mice"}, {"_id": "q2", "text": "sailors repair hulls"}, {"_id": "q9", "text": "unjudged"}]
    (d / "queries-test.jsonl").write_text("\n".join(json.dumps(x) for x in qs) + "\n", encoding="utf-8")
    (d / "qrels-test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n", encoding="utf-8")
    rats = [{"query-id": "q1", "corpus-id": "d1", "label": "SUPPORT", "spans": [[0, 24]]}]
    (d / "rationales-test.jsonl").write_text("\n".join(json.dumps(x) for x in rats) + "\n", encoding="utf-8")
    return d


def test_beir_loader(tiny_beir):
    ds = beir.load(tiny_beir, "test")
    assert [p.source for p in ds.passages] == ["d1", "d2", "d3"]
    # the title is the passage's header (embedded and searched with it), not part of its text
    assert ds.passages[0].text == "Owls hunt mice at night. They fly silently." and ds.passages[0].title == "Owls"
    assert set(ds.queries) == {"q1", "q2"}  # only judged queries
    assert ds.qrels == {"q1": {"d1": 1}, "q2": {"d3": 1}}
    with pytest.raises(DataError, match="not found"):
        beir.load(tiny_beir / "missing")
    with pytest.raises(DataError, match="qrels"):
        beir.load(tiny_beir, "train")


def test_evaluate_end_to_end_with_fake_encoder(tiny_beir, tmp_path):
    res = evaluate(tiny_beir, "test", index=tmp_path / "idx", k=3, encoder=FakeEncoder())
    assert res["queries"] == 2 and res["corpus"] == 3 and not res["index_reused"]
    for mode in ("dense", "bm25", "hybrid"):
        m = res["modes"][mode]
        assert m["ndcg@10"] == pytest.approx(1.0) and m["recall@100"] == 1.0 and m["mrr@10"] == 1.0
        assert 0 <= m["p50_ms"] <= m["p99_ms"]
    # q1's rationale is the first sentence, and the chosen sentence (with the most query words) is it
    assert res["modes"]["hybrid"]["answer_rate"] == 1.0 and res["modes"]["hybrid"]["answer_pairs"] == 1
    again = evaluate(tiny_beir, "test", index=tmp_path / "idx", k=3, encoder=FakeEncoder(), modes=("bm25",))
    assert again["index_reused"] and set(again["modes"]) == {"bm25"}
