"""Sharded search without Ray (the shards in this process): the same hits as the unsharded index,
because BM25 statistics are global (tests/test_ray.py runs the same on Ray actors)."""

from __future__ import annotations

import numpy as np
import pytest

from fakes import FakeEncoder


def _corpus(d, n_files=15):
    words = "harbour ship sail winter bread yeast cat dawn dusk river stone lamp garden tower bell salt".split()
    rng = np.random.default_rng(3)
    d.mkdir()
    for f in range(n_files):
        paras = [" ".join(rng.choice(words, 1 + int(rng.integers(12)))) + "." for _ in range(4)]
        (d / f"d{f:02d}.txt").write_text("\n\n".join(paras) + "\n", encoding="utf-8")
    return d


@pytest.mark.parametrize("n_shards", [1, 4, 7])
def test_local_shards_equal_unsharded(tmp_path, n_shards):
    from rag.distributed.shards import ShardedSearcher
    from rag.indexing.build import build_index
    from rag.search.retriever import Retriever

    index = tmp_path / "index"
    build_index(_corpus(tmp_path / "seeds"), index, encoder=FakeEncoder(), export_query_encoder=False)
    single = Retriever.open(index, encoder=FakeEncoder())
    sharded = ShardedSearcher(index, n_shards, encoder=FakeEncoder(), local=True)
    for q in ("harbour ship", "bread yeast salt", "lamp", "tower bell garden dawn", "harbour zanzibar"):  # one word in no passage
        for mode in ("hybrid", "dense", "bm25"):
            want = single.search(q, k=8, mode=mode)
            got = sharded.search(q, k=8, mode=mode)
            assert [h.row for h in got] == [h.row for h in want]
            assert all(h.confidence is not None and h.answer is not None for h in got)
            assert [h.confidence for h in got] == pytest.approx([h.confidence for h in want], abs=1e-9)
            assert [h.answer.text for h in got] == [h.answer.text for h in want]
            assert [h.text for h in got] == [h.text for h in want]
            assert [h.score for h in got] == pytest.approx([h.score for h in want], rel=1e-6)
            assert [h.bm25_score for h in got] == pytest.approx([h.bm25_score for h in want], rel=1e-9)
    sharded.close()
    single.index.close()


def test_shard_bm25_uses_global_statistics(tmp_path):
    """Per-shard statistics would score differently: the global ones are what makes shards exact."""
    from rag.distributed.shards import Shard, global_stats
    from rag.indexing.build import build_index

    index = tmp_path / "index"
    build_index(_corpus(tmp_path / "seeds"), index, encoder=FakeEncoder(), export_query_encoder=False)
    shards = [Shard(str(index), s, 3) for s in range(3)]
    local_only = Shard(str(index), 0, 3)
    local_only.set_global_stats(*local_only.local_stats())
    totals = global_stats([s.local_stats() for s in shards])
    for s in shards:
        s.set_global_stats(*totals)
    assert totals[0] == sum(len(s.positions) for s in shards)
    terms = ["harbour", "salt"]
    from rag.documents.tokens import tokenize

    terms = tokenize("harbour salt")
    assert not np.allclose(shards[0].bm25(terms)[1], local_only.bm25(terms)[1])


def test_serve_deployment_checks_the_token_in_constant_time_and_is_open_without_one():
    from rag.distributed.serve import SearchDeployment

    d = SearchDeployment.__new__(SearchDeployment)  # the token rule alone; no cluster needed
    d.token, d.hosts = "s3cret", None
    assert d.authorized("Bearer s3cret")
    assert not d.authorized("Bearer s3cre") and not d.authorized(None) and not d.authorized("s3cret")
    assert d.refused("anything", "Bearer s3cret") is None
    assert d.refused("anything", "Bearer nope")[0] == 401  # refused with a status, not HTTP 200
    d.token = None
    assert d.authorized(None) and d.refused("anything", None) is None


def test_serve_deployment_on_loopback_refuses_other_host_names():
    """A page of another site resolving its name to 127.0.0.1 (DNS rebinding) is refused, as rag serve does."""
    from rag.distributed.serve import SearchDeployment

    d = SearchDeployment.__new__(SearchDeployment)
    d.token, d.hosts = None, ["127.0.0.1", "localhost", "[::1]", "::1", "127.0.0.2"]
    for host in ("127.0.0.1:8000", "localhost", "[::1]:8000", "127.0.0.2:9"):
        assert d.refused(host, None) is None, host
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", None):
        assert d.refused(host, None)[0] == 403, host


def test_serve_deployment_answers_like_rag_ask_json(tmp_path):
    from rag.distributed.serve import SearchDeployment
    from rag.distributed.shards import ShardedSearcher
    from rag.indexing.build import build_index
    from rag.search.retriever import Retriever

    index = tmp_path / "index"
    build_index(_corpus(tmp_path / "seeds"), index, encoder=FakeEncoder(), export_query_encoder=False)
    d = SearchDeployment.__new__(SearchDeployment)  # the replica's logic over in-process shards
    d.searcher, d.token = ShardedSearcher(index, 3, encoder=FakeEncoder(), local=True), None
    single = Retriever.open(index, encoder=FakeEncoder())
    status, out = d.query({"question": "harbour ship in winter", "k": 3})
    assert status == 200
    want = single.search("harbour ship in winter", k=3)
    assert set(single.ask("harbour ship in winter", k=3).to_dict()) == set(out)  # the same object as rag ask --json
    assert out["version"] == single.version_dir.name
    assert out["found"] == any(h.confidence >= 0.5 for h in want)
    assert [h["confidence"] for h in out["hits"]] == [round(h.confidence, 4) for h in want]  # JSON keeps 4 places
    assert [h["answer"]["text"] for h in out["hits"]] == [h.answer.text for h in want]
    assert d.query({"question": "   "})[0] == 400 and set(d.query({"question": "   "})[1]) == {"error"}
    assert "from 1 to 100" in d.query({"question": "harbour", "k": 1000})[1]["error"]  # the limits HTTP and MCP apply
    assert "longer than" in d.query({"question": "x" * 5000})[1]["error"]
    d.searcher.close()
    single.index.close()
