"""What a long-running server keeps does not grow with the questions it is asked: questions never
add to the stem cache, and a retriever's term statistics and decoded passages are kept in bounded
caches (issue 23: memory grew with distinct long questions)."""

from __future__ import annotations

import random

from rag.documents import tokens


def _distinct_questions(n: int, words: int = 30) -> list[str]:
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [" ".join("".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(words))
            for _ in range(n)]


def test_questions_do_not_grow_the_stem_cache():
    tokens.tokenize("Glaciers carve valleys")  # document words are kept
    before = len(tokens._TERMS)
    terms = [tokens.query_terms(q) for q in _distinct_questions(50)]
    assert all(len(t) >= 25 for t in terms)  # stemmed all the same
    assert len(tokens._TERMS) == before
    assert tokens.query_terms("Glaciers carve valleys") == tokens.tokenize("Glaciers carve valleys")


def test_a_retrievers_caches_stay_bounded(tmp_path, fake_encoder, monkeypatch):
    from rag import build_index
    from rag.search import retriever as retriever_module
    from rag.search import view
    from rag.search.retriever import Retriever

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for i in range(30):
        (seeds / f"n{i}.txt").write_text(f"Note {i} on tides and moons.\n\nNote {i} on glaciers.\n", encoding="utf-8")
    build_index(seeds, tmp_path / "index", encoder=fake_encoder)
    monkeypatch.setattr(view, "TERM_CACHE", 40)
    monkeypatch.setattr(retriever_module, "PASSAGE_CACHE", 8)
    r = Retriever.open(tmp_path / "index", encoder=fake_encoder)
    for q in _distinct_questions(20):
        r.search(q + " tides", k=20)
    assert r.view.stats._df.cache_info().currsize == 40  # full, and no larger
    assert r.passages._get.cache_info().currsize == 8
    assert r.search("Note 3 on glaciers", k=1)[0].text == "Note 3 on glaciers."  # still right after evictions
