"""The index backend contract (rag.index.backend), run on both backends: the local segmented index
(rag.index.local) and a small in-memory one (tests/memory_backend.py). Each is checked against
references computed here from the live records by key (BM25 by hand and by bm25s, numpy's exact inner
product). Then the seam is used as production uses it: the build's embed-and-commit step writes into
the in-memory backend and the Retriever searches it, with the same answers as the local index.
(What only the local backend does, segments, compaction and crash safety, is in test_local_index.py.)"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from rag.documents.files import iter_seed_files
from rag.documents.ingest import MAX_FILE_BYTES
from rag.documents.tokens import tokenize
from rag.errors import IndexLockedError, IndexMissingError
from rag.index.backend import IndexReader, IndexWriter, Record
from rag.index.lexical import BM25_B, BM25_K1
from rag.index.local import LocalIndex
from rag.indexing.build import build_index
from rag.indexing.commit import embed_and_commit
from rag.indexing.reading import read_all
from rag.search.retriever import Retriever
from rag.types import BuildStats

from index_records import DIM, WORDS, dense_keys, fill, lexical_keys, payloads_by_key, rec, vec_of  # noqa: E402
from memory_backend import MemoryIndex, MemoryStore  # noqa: E402

QUERIES = [tokenize(q) for q in ("ship in the harbour in winter", "cat cat sleeps at dawn", "stone bridge river",
                                 "a poem, a song and a letter", "zebra")]


@pytest.fixture(params=["local", "memory"])
def open_index(request, tmp_path):
    """``open_index(writable=False, dim=None)`` opens one index of the backend under test."""
    if request.param == "local":
        return lambda **kw: LocalIndex.open(tmp_path / "idx", **kw)
    store = MemoryStore()
    return lambda **kw: MemoryIndex.open(store, **kw)


@pytest.fixture
def filled(open_index):
    """The backend filled by four commits with replacements and deletions; the live records by key."""
    with open_index(writable=True, dim=DIM) as w:
        live = fill(w)
    return open_index, live


def bm25_reference(live: dict[str, Record], query: list[str],
                   extra: dict[str, float] | None = None) -> dict[str, float]:
    """BM25 from scratch over the live records (Lucene idf, bm25s's tf part), positive scores only."""
    docs = list(live.values())
    n = len(docs)
    avgdl = sum(len(r.tokens) for r in docs) / n
    weights = {t: query.count(t) for t in query}
    for t, w in (extra or {}).items():
        weights[t] = weights.get(t, 0) + w
    out = {}
    for r in docs:
        s = 0.0
        for t, w in weights.items():
            tf = r.tokens.count(t)
            if tf:
                df = sum(1 for d in docs if t in d.tokens)
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                s += w * idf * tf / (tf + BM25_K1 * (1 - BM25_B + BM25_B * len(r.tokens) / avgdl))
        if s > 0:
            out[r.key] = s
    return out


def test_each_backend_implements_both_sides(filled):
    open_index, _ = filled
    r = open_index()
    assert isinstance(r, IndexReader) and r.version
    with open_index(writable=True) as w:
        assert isinstance(w, IndexWriter)
        view = w.staged()
        assert isinstance(view, IndexReader) and view.version is None
        view.close()


def test_positions_number_the_live_passages(filled):
    open_index, live = filled
    r = open_index()
    assert r.count() == len(live) == len(r.live_vectors())
    assert payloads_by_key(r) == {k: rec.payload for k, rec in live.items()}  # each key once, the latest upsert
    for pos in range(r.count()):
        key = r.payload_at(pos)["key"]
        assert np.array_equal(r.vector_at(pos), live[key].vector)
        assert np.array_equal(r.live_vectors()[pos], live[key].vector)
    for pos in (-1, r.count()):
        with pytest.raises(IndexError):
            r.payload_at(pos)
        with pytest.raises(IndexError):
            r.vector_at(pos)
    assert r.dim == DIM and r.verify() >= 0
    assert sum(s["rows"] - s["deleted"] for s in r.segments()) == r.count()


def test_bm25_is_exact_over_live_passages(filled):
    import bm25s

    open_index, live = filled
    r = open_index()
    keys = list(live)
    model = bm25s.BM25(k1=BM25_K1, b=BM25_B, method="lucene")
    model.index([live[k].tokens for k in keys], show_progress=False)
    for q in QUERIES:
        got = dict(lexical_keys(r, q))
        ref = bm25_reference(live, q)
        assert got.keys() == ref.keys(), q
        assert [got[k] for k in ref] == pytest.approx([ref[k] for k in ref], rel=1e-6)
        known = [t for t in q if t in model.vocab_dict]
        lib = model.get_scores(known) if known else np.zeros(len(keys))
        assert {k: float(s) for k, s in zip(keys, lib) if s > 0} == pytest.approx(got, rel=1e-5)
    extra = {"lantern": 0.5, "bread": 0.25, "zebra": 1.0, "stone": 0.0}
    pos, sc = r.lexical_positions(QUERIES[2], extra=extra)
    got = {r.payload_at(int(p))["key"]: float(s) for p, s in zip(pos, sc)}
    assert got == pytest.approx(bm25_reference(live, QUERIES[2], {k: w for k, w in extra.items() if w > 0}), rel=1e-6)
    assert r.lexical_positions([])[0].size == 0 and r.lexical_positions(["zebra"])[0].size == 0
    for t in WORDS + ["zebra"]:
        term = tokenize(t)[0] if tokenize(t) else t
        assert r.doc_freq(term) == sum(term in rec.tokens for rec in live.values()), t


def test_dense_search_is_exact_over_live_vectors(filled):
    open_index, live = filled
    r = open_index()
    keys = list(live)
    mat = np.stack([live[k].vector for k in keys])
    queries = np.stack([vec_of(10_000 + i) for i in range(5)])
    for q, got in zip(queries, dense_keys(r, queries, 10)):
        scores = mat @ q
        order = np.argsort(-scores, kind="stable")[:10]
        assert [k for k, _ in got] == [keys[i] for i in order]
        assert [s for _, s in got] == pytest.approx(scores[order].tolist(), abs=1e-5)
    sc, pos = r.dense_positions(queries[:2], r.count() + 7)  # deeper than the index: every passage once
    assert sc.shape == pos.shape and sc.shape[0] == 2
    for row_sc, row_pos in zip(sc, pos):
        live_pos = row_pos[row_pos >= 0]
        assert sorted(live_pos.tolist()) == list(range(r.count()))
        assert np.all(np.diff(row_sc[row_pos >= 0]) <= 0) and np.all(np.isneginf(row_sc[row_pos < 0]))


def test_dense_lexical_payloads_and_vectors_share_one_numbering(filled):
    """A passage found densely by its own vector is at the position where BM25 scores it, and
    where payload_at and vector_at read it."""
    open_index, live = filled
    r = open_index()
    for key, rec_ in list(live.items())[::7]:
        sc, pos = r.dense_positions(rec_.vector, 1)
        p = int(pos[0, 0])
        assert r.payload_at(p)["key"] == key and np.array_equal(r.vector_at(p), rec_.vector)
        lpos, lsc = r.lexical_positions(rec_.tokens)
        assert float(lsc[lpos == p][0]) == pytest.approx(bm25_reference(live, rec_.tokens)[key], rel=1e-6)


def test_changes_are_seen_only_after_commit_and_readers_keep_their_version(filled):
    open_index, live = filled
    before = open_index()
    lex0, dense0 = lexical_keys(before, QUERIES[0]), dense_keys(before, vec_of(5), 20)
    payloads0 = payloads_by_key(before)
    with open_index(writable=True) as w:
        w.upsert([rec(1, 7), rec(500), rec(501)])  # doc0.txt#1 replaced
        w.delete(["doc3.txt#0", "missing.txt#9"])  # an unknown key is ignored
        assert w.count() == len(live)  # the writer reads the version it builds on
        assert open_index().count() == len(live)  # pending changes are invisible
        view = w.staged()
        assert view.count() == len(live) + 2 - 1 and payloads_by_key(view)["doc0.txt#1"] == rec(1, 7).payload
        view.close()
        name = w.commit()
        assert w.count() == len(live) + 1  # the writer goes on from the version it published
    after = open_index()
    assert after.version == name != before.version
    want = {**{k: v.payload for k, v in live.items() if k != "doc3.txt#0"},
            **{r_.key: r_.payload for r_ in (rec(1, 7), rec(500), rec(501))}}
    assert payloads_by_key(after) == want
    # the reader opened before still answers from its version
    assert before.count() == len(live) and payloads_by_key(before) == payloads0
    assert lexical_keys(before, QUERIES[0]) == lex0 and dense_keys(before, vec_of(5), 20) == dense0


def test_delete_then_upsert_and_upsert_then_delete_in_one_commit(filled):
    open_index, live = filled
    with open_index(writable=True) as w:
        w.delete(["doc4.txt#0"])
        w.upsert([rec(12, 5)])  # doc4.txt#0 again: upserted last, it lives
        w.upsert([rec(600)])
        w.delete(["doc200.txt#0"])  # rec(600): deleted last, it never appears
        w.commit()
    got = payloads_by_key(open_index())
    assert got["doc4.txt#0"] == rec(12, 5).payload and "doc200.txt#0" not in got and len(got) == len(live)


def test_keys_with_prefix_and_vectors_of_read_the_version_built_on(filled):
    open_index, live = filled
    with open_index(writable=True) as w:
        assert sorted(w.keys_with_prefix("doc1.txt#")) == sorted(k for k in live if k.startswith("doc1.txt#"))
        assert sorted(w.keys_with_prefix("")) == sorted(live)
        assert w.keys_with_prefix("nothing-") == []
        got = w.vectors_of(["doc7.txt#2", "doc2.txt#0", "doc0.txt#1"])
        assert np.array_equal(got[0], live["doc7.txt#2"].vector) and got[1] is None
        assert np.array_equal(got[2], live["doc0.txt#1"].vector)
        w.delete(["doc7.txt#2"])
        assert "doc7.txt#2" in w.keys_with_prefix("doc7.txt#")  # not before the commit
        w.commit()
        assert "doc7.txt#2" not in w.keys_with_prefix("doc7.txt#") and w.vectors_of(["doc7.txt#2"]) == [None]


def test_meta_is_set_for_the_next_commit_and_carried_over(filled):
    open_index, _ = filled
    with open_index(writable=True) as w:
        w.set_meta({"model": {"name": "m"}, "files": {"a.txt": {"passages": 2}}})
        assert w.meta == {}  # the version built on has none yet
        view = w.staged()
        assert view.meta["model"] == {"name": "m"}
        view.close()
        w.commit()
        w.upsert([rec(700)])
        w.commit()  # no set_meta: carried over
    assert open_index().meta == {"model": {"name": "m"}, "files": {"a.txt": {"passages": 2}}}


def test_one_writer_at_a_time_readers_are_read_only_and_vectors_are_checked(filled):
    open_index, _ = filled
    with open_index(writable=True) as w:
        with pytest.raises(IndexLockedError):
            open_index(writable=True)
        assert open_index().count() > 0
        with pytest.raises(ValueError):
            w.upsert([Record("odd.txt#0", np.ones(DIM + 1, np.float32), ["x"], {})])
        with pytest.raises(ValueError):
            w.upsert([Record("", vec_of(1), ["x"], {})])
    with open_index(writable=True):  # released by close
        pass
    r = open_index()
    for change in (lambda: r.upsert([rec(1)]), lambda: r.delete(["doc0.txt#1"]), lambda: r.commit()):
        with pytest.raises(ValueError):
            change()


def test_a_missing_index_cannot_be_read_and_a_new_one_needs_its_dimension(open_index):
    with pytest.raises(IndexMissingError):
        open_index()
    with pytest.raises(ValueError):
        open_index(writable=True)
    with open_index(writable=True, dim=DIM) as w:
        assert w.count() == 0 and w.keys_with_prefix("") == []
        w.upsert([rec(3)])
        w.commit()
    assert open_index().count() == 1


# -- the seam as production uses it: a build writes, the Retriever searches ---------------------------

def _write_corpus(d: Path) -> Path:
    rng = np.random.default_rng(3)
    words = "harbour ship sail winter bread yeast cat dawn dusk river stone lamp garden tower bell salt".split()
    d.mkdir(parents=True)
    (d / "cats.txt").write_text("All about cats.\n\nCats sleep for most of the day.\nThey hunt at dawn and dusk.\n\n"
                                "A cat purrs when content.\n", encoding="utf-8")
    (d / "ships.md").write_text("# Ships\n\nThe harbour holds forty ships in winter.\n\n"
                                "Sailors repair the hulls in spring.\n", encoding="utf-8")
    for f in range(6):
        paras = ["\n".join(" ".join(rng.choice(words, 8)) + "." for _ in range(2)) for _ in range(3)]
        (d / f"doc{f}.txt").write_text("\n\n".join(paras) + "\n", encoding="utf-8")
    return d


def _build_in_memory(w: MemoryIndex, seeds: Path, sources: set[str] | None, gone: list[str], manifest: dict,
                     encoder) -> BuildStats:
    """What rag.indexing.build does after its change decision, into ``w``: read ``sources`` (all
    when None), then the embed-and-commit step with the local build's file records."""
    files = [f for f in iter_seed_files(seeds)[0] if sources is None or f.source in sources]
    reads = read_all(files, encoder.token_ends, encoder.info.max_tokens - 2, MAX_FILE_BYTES)
    by_source = {r.source: r.passages for r in reads if r.passages}
    stats = BuildStats(index_dir=Path("memory"))
    meta = {k: manifest[k] for k in ("seeds_root", "ingest", "files", "skipped_files")}
    total = sum(m["passages"] for m in manifest["files"].values())
    embed_and_commit(w, by_source, gone, total, encoder.info, encoder, stats, progress=None, cancel=None,
                     t0=time.perf_counter(), meta=meta)
    return stats


def _answers(r: Retriever) -> list[list[tuple]]:
    """The hits of a few questions in each mode, and of a follow-up (positions left out: they may
    number the passages differently)."""
    questions = ("Why do cats sleep?", "ships in the harbour in winter", "bread and yeast", "stone tower bell")
    asked = [r.search(q, k=4, mode=m) for q in questions for m in ("hybrid", "dense", "bm25")]
    asked.append(r.search("When?", k=4, history=["Why do cats hunt at dawn?"]))
    return [[(h.source, h.char_start, h.text, round(h.score, 5), h.dense_score and round(h.dense_score, 5),
              h.bm25_score and round(h.bm25_score, 5), round(h.confidence, 5), h.answer and h.answer.text)
             for h in hits] for hits in asked]


def test_a_build_into_the_memory_backend_searches_as_the_local_index(tmp_path, fake_encoder):
    seeds, idx = _write_corpus(tmp_path / "seeds"), tmp_path / "idx"
    local_stats = build_index(seeds, idx, encoder=fake_encoder)
    local = Retriever.open(idx, encoder=fake_encoder)
    store = MemoryStore()
    with MemoryIndex.open(store, writable=True, dim=fake_encoder.info.dim) as w:
        stats = _build_in_memory(w, seeds, None, [], local.manifest, fake_encoder)
    assert (stats.embedded, stats.reused) == (local_stats.embedded, local_stats.reused) and stats.embedded > 20
    mem = MemoryIndex.open(store)
    # the confidence model fitted on each backend's staged view is the same (the fit samples passages by
    # position; both number them in upsert order here)
    assert mem.meta["calibration"] == pytest.approx(local.manifest["calibration"])
    assert mem.meta["counts"]["passages"] == mem.count() and mem.verify() == mem.count()
    searched = Retriever(Path("memory") / mem.version, mem.meta, mem, fake_encoder)
    assert searched.info.passages == len(local.passages) and searched.info.dense_kind == "flat"
    assert _answers(searched) == _answers(local)

    # an update: one file changed, one removed, one added; only the new texts are embedded
    (seeds / "cats.txt").write_text("All about cats.\n\nCats sleep for most of the day.\n\nA kitten plays.\n",
                                    encoding="utf-8")
    (seeds / "doc3.txt").unlink()
    (seeds / "bread.txt").write_text("Bread rises because yeast makes gas.\n", encoding="utf-8")
    local_stats = build_index(seeds, idx, encoder=fake_encoder)
    local = Retriever.open(idx, encoder=fake_encoder)
    with MemoryIndex.open(store, writable=True) as w:
        stats = _build_in_memory(w, seeds, {"cats.txt", "bread.txt"}, ["doc3.txt"], local.manifest, fake_encoder)
    # embedded: cats.txt's new second and third paragraphs, bread.txt; removed: cats.txt's two old
    # paragraphs and doc3.txt's three
    assert ((stats.embedded, stats.reused, stats.removed)
            == (local_stats.embedded, local_stats.reused, local_stats.removed))
    assert (stats.embedded, stats.removed) == (3, 5)
    mem = MemoryIndex.open(store)
    searched = Retriever(Path("memory") / mem.version, mem.meta, mem, fake_encoder)
    assert _answers(searched) == _answers(local)
