"""Confidence: the calibrator fitted at build time without labels (fake encoder: fast, deterministic)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fakes import FakeEncoder
from unanswerable import ESPRESSO
from rag import Retriever, build_index
from rag.index import store
from rag.indexing.calibration import claim_question, fit_logistic, needs_refit, offtopic_questions
from rag.search.confidence import CALIBRATION_VERSION, FEATURES, Calibration
from rag.search.retriever import found

TOPICS = {
    "volcano": "Magma rises through the crust and erupts as lava from the volcano vent. Basalt forms when lava "
    "cools quickly near the surface. Ash clouds from eruptions ground aircraft for days.",
    "beekeeping": "Worker bees collect nectar and pollen from flowers across the meadow. The queen lays eggs in "
    "wax cells of the brood comb. Beekeepers harvest honey in late summer using a smoker.",
    "sailing": "A sloop carries a mainsail and a jib on a single mast. Sailors reef the mainsail when gusts "
    "exceed twenty knots. Tacking turns the bow through the wind to change course.",
    "compilers": "The parser builds an abstract syntax tree from the token stream. Register allocation maps "
    "virtual registers onto physical ones with graph colouring. Dead code elimination removes unreachable blocks.",
    "glaciers": "Glaciers carve deep valleys as compacted snow turns to ice and flows downhill. Moraines mark "
    "where a glacier deposited rock debris. Crevasses open where the ice bends over bedrock.",
    "orchards": "Apple trees are grafted onto dwarfing rootstock to keep them small. Pruning in winter opens "
    "the canopy to sunlight. Codling moth larvae tunnel into the fruit in midsummer.",
}


@pytest.fixture
def topic_seeds(tmp_path: Path) -> Path:
    d = tmp_path / "topics"
    d.mkdir()
    for name, text in TOPICS.items():
        sents = text.split(". ")
        (d / f"{name}.txt").write_text("\n\n".join(s.rstrip(".") + "." for s in sents) + "\n", encoding="utf-8")
    return d


def _calibration(idx: Path) -> dict:
    _, manifest = store.open_current(idx)
    return manifest["meta"]["calibration"]


def test_fit_logistic_learns_the_separating_direction():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 3))
    y = (x[:, 1] + 0.1 * rng.standard_normal(400) > 0.3).astype(float)
    mean, scale, w, b = fit_logistic(x, y)
    cal = Calibration(tuple(mean), tuple(scale), tuple(w), b)
    assert abs(w[1]) > 3 * max(abs(w[0]), abs(w[2]))
    p = cal.probability(np.array([[0.0, -2.0, 0.0], [0.0, 0.3, 0.0], [0.0, 2.0, 0.0]]))
    assert p[0] < 0.05 and 0.3 < p[1] < 0.7 and p[2] > 0.95


def test_calibration_json_round_trip_and_rejects_malformed():
    n = len(FEATURES)
    cal = Calibration((0.1,) * n, (1.0,) * n, (2.0, 0.5), -0.3, passages=12, positives=5,
                      negatives=9)
    back = Calibration.from_json(json.loads(json.dumps(cal.to_json())))
    assert back == cal
    bad = cal.to_json() | {"scale": [1.0, 0.0] + [1.0] * (n - 2)}
    assert Calibration.from_json(bad) is None
    assert Calibration.from_json({"version": 999}) is None
    assert Calibration.from_json(cal.to_json() | {"features": ["cos"]}) is None


def test_needs_refit_when_missing_or_the_corpus_moved():
    n = len(FEATURES)
    cal = Calibration((0.0,) * n, (1.0,) * n, (1.0,) * n, 0.0, passages=100).to_json()
    assert needs_refit(None, 10) and not needs_refit(None, 0)
    assert not needs_refit(cal, 110) and not needs_refit(cal, 80)
    assert needs_refit(cal, 130) and needs_refit(cal, 70)


def test_claim_question_restates_the_sentence_nearly_whole():
    import random

    from rag.documents.tokens import STOPWORDS_EN

    s = "Register allocation maps virtual registers onto physical ones with graph colouring in the back end."
    content = {w for w in s.lower().rstrip(".").split() if w not in STOPWORDS_EN}
    vocab = ["glacier", "moraine", "pollen"]
    rng = random.Random(1)
    qs = [claim_question(s, rng, vocab=vocab) for _ in range(40)]
    assert all(q is not None for q in qs) and len(set(qs)) > 10
    kept = swapped = 0
    for q in qs:
        words = q.lower().rstrip("?").split()
        kept += sum(w in content for w in words)
        swapped += sum(w in vocab for w in words)
    # more of the sentence's content words stay than are replaced (a restatement, not a word salad),
    # and a good share are the asker's own words (natural questions share few words with the answer)
    assert kept >= 0.4 * 40 * len(content)
    assert 0.15 * 40 * len(content) < swapped < kept
    assert claim_question("Too short here.", rng) is None
    assert claim_question("In 2001 12 of 340 and 7 of 98 (p 0.02).", rng) is None  # mostly numbers


def test_an_earlier_fit_still_serves_until_the_next_build_fits_again():
    """A model stored over more features (the ones later dropped had weight 0) reads as the same model."""
    old = {"version": 1, "features": ["cos", "margin", "rel", "coverage", "agree"], "mean": [0.4, 0, 0.1, 0.5, 0.3],
           "scale": [0.2, 0.1, 0.1, 0.3, 0.4], "weights": [2.0, 0.0, 0.0, 1.0, 0.0], "bias": -0.2, "passages": 100}
    cal = Calibration.from_json(old)
    assert cal is not None and len(cal.weights) == len(FEATURES)
    x = np.zeros(len(FEATURES))
    x[FEATURES.index("cos")], x[FEATURES.index("coverage")] = 0.6, 0.8
    z = -0.2 + 2.0 * (0.6 - 0.4) / 0.2 + 1.0 * (0.8 - 0.5) / 0.3
    assert cal.probability(x)[0] == pytest.approx(1 / (1 + np.exp(-z)))
    assert needs_refit(old, 100)  # fitted by an earlier procedure
    assert not needs_refit(cal.to_json(), 100) and cal.to_json()["version"] == CALIBRATION_VERSION
    assert Calibration.from_json(old | {"features": ["cos", "cos", "rel", "coverage", "agree"]}) is None
    # a feature this version does not compute must carry no weight
    assert Calibration.from_json(old | {"weights": [2.0, 0.5, 0.0, 1.0, 0.0]}) is None


def test_offtopic_bank_spans_many_questions():
    bank = offtopic_questions()
    assert len(bank) >= 100 and all(q.endswith("?") for q in bank)


def test_build_stores_calibration_and_hits_carry_confidence(topic_seeds, tmp_path):
    idx = tmp_path / "idx"
    enc = FakeEncoder()
    build_index(topic_seeds, idx, encoder=enc)
    stored = _calibration(idx)
    cal = Calibration.from_json(stored)
    assert cal is not None and cal.passages == 18 and cal.positives > 0 and cal.negatives > 0
    assert stored["features"] == list(FEATURES)
    assert all("?" not in t for t in enc.embedded)  # calibration queries are not passages
    r = Retriever.open(idx, encoder=enc)
    on = r.search("How do beekeepers harvest honey in late summer?", k=3)
    off = r.search(ESPRESSO, k=3)
    assert on[0].source == "beekeeping.txt"
    assert all(0.0 <= h.confidence <= 1.0 for h in on + off)
    assert found(on) and on[0].confidence >= 0.5
    assert not found(off) and max(h.confidence for h in off) < 0.5
    d = on[0].to_dict()
    assert d["confidence"] == round(on[0].confidence, 4)


def test_an_update_refits_a_model_fitted_by_an_older_calibration(topic_seeds, tmp_path, monkeypatch):
    """A new calibration procedure reaches existing indexes at the next `rag index`, even when no file changed."""
    from rag.search import confidence

    idx = tmp_path / "idx"
    enc = FakeEncoder()
    build_index(topic_seeds, idx, encoder=enc)
    assert not build_index(topic_seeds, idx, encoder=enc).changed  # nothing changed: nothing to do
    monkeypatch.setattr(confidence, "CALIBRATION_VERSION", CALIBRATION_VERSION + 1)
    assert build_index(topic_seeds, idx, encoder=enc).changed
    assert _calibration(idx)["version"] == CALIBRATION_VERSION + 1
    assert not build_index(topic_seeds, idx, encoder=enc).changed


def test_confidence_of_a_passage_is_the_same_in_every_mode(topic_seeds, tmp_path):
    idx = tmp_path / "idx"
    enc = FakeEncoder()
    build_index(topic_seeds, idx, encoder=enc)
    r = Retriever.open(idx, encoder=enc)
    q = "Why do glaciers carve deep valleys?"
    by_mode = {m: {h.row: h.confidence for h in r.search(q, k=5, mode=m)} for m in ("dense", "bm25", "hybrid")}
    shared = set(by_mode["dense"]) & set(by_mode["bm25"]) & set(by_mode["hybrid"])
    assert shared
    for row in shared:
        assert by_mode["dense"][row] == pytest.approx(by_mode["bm25"][row]) == pytest.approx(by_mode["hybrid"][row])


def test_incremental_build_keeps_the_fit_until_the_corpus_moves(topic_seeds, tmp_path):
    idx = tmp_path / "idx"
    build_index(topic_seeds, idx, encoder=FakeEncoder())
    first = _calibration(idx)
    (topic_seeds / "extra.txt").write_text("Owls hunt at night over the fields.\n", encoding="utf-8")
    enc = FakeEncoder()
    build_index(topic_seeds, idx, encoder=enc)
    assert enc.embedded == ["Owls hunt at night over the fields."]
    assert _calibration(idx) == first  # 19 passages against 18 fitted: kept
    for i in range(6):
        (topic_seeds / f"more{i}.txt").write_text(f"Note {i} on tides.\n\nNote {i} on moons.\n", encoding="utf-8")
    build_index(topic_seeds, idx, encoder=FakeEncoder())
    again = _calibration(idx)
    assert again != first and again["passages"] == 31
    r = Retriever.open(idx, encoder=FakeEncoder())
    assert Calibration.from_json(again) == r.calibration


def _version_names(idx: Path) -> tuple[str, str]:
    return ((idx / "CURRENT").read_text(encoding="utf-8").strip(),
            (idx / ".previous").read_text(encoding="utf-8").strip())


def test_a_build_that_refits_publishes_one_version(topic_seeds, tmp_path):
    """The fit is made on the staged version and published with it: PREVIOUS names the last build's
    version, not an intermediate one that lacks the new fit."""
    idx = tmp_path / "idx"
    build_index(topic_seeds, idx, encoder=FakeEncoder())
    first = (idx / "CURRENT").read_text(encoding="utf-8").strip()
    first_cal = _calibration(idx)
    for i in range(6):
        (topic_seeds / f"more{i}.txt").write_text(f"Note {i} on tides.\n\nNote {i} on moons.\n", encoding="utf-8")
    build_index(topic_seeds, idx, encoder=FakeEncoder())
    current, previous = _version_names(idx)
    assert previous == first and current != first
    assert _calibration(idx) != first_cal and _calibration(idx)["passages"] == 30
    assert sorted(p.name for p in idx.glob("v-*")) == sorted([first, current])


def test_calibration_sees_the_staged_changes(topic_seeds, tmp_path, monkeypatch):
    """The model is fitted on what the build publishes: removed passages are gone, added ones there."""
    from rag.indexing import commit

    idx = tmp_path / "idx"
    build_index(topic_seeds, idx, encoder=FakeEncoder())
    seen = {}
    real = commit.calibrate

    def spy(index, encode, **kw):
        seen["sources"] = {index.payload_at(p)["source"] for p in range(index.count())}
        return real(index, encode, **kw)

    monkeypatch.setattr(commit, "calibrate", spy)
    (topic_seeds / "volcano.txt").unlink()
    for i in range(6):
        (topic_seeds / f"more{i}.txt").write_text(f"Note {i} on tides.\n\nNote {i} on moons.\n", encoding="utf-8")
    build_index(topic_seeds, idx, encoder=FakeEncoder())
    assert "volcano.txt" not in seen["sources"] and "more5.txt" in seen["sources"]
    assert Calibration.from_json(_calibration(idx)).passages == 27


def test_a_failed_calibration_publishes_nothing_and_the_next_build_completes(topic_seeds, tmp_path, monkeypatch):
    from rag.indexing import commit

    idx = tmp_path / "idx"
    build_index(topic_seeds, idx, encoder=FakeEncoder())
    before = (idx / "CURRENT").read_text(encoding="utf-8")
    for i in range(6):
        (topic_seeds / f"more{i}.txt").write_text(f"Note {i} on tides.\n\nNote {i} on moons.\n", encoding="utf-8")

    def boom(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(commit, "calibrate", boom)
    with pytest.raises(KeyboardInterrupt):
        build_index(topic_seeds, idx, encoder=FakeEncoder())
    assert (idx / "CURRENT").read_text(encoding="utf-8") == before
    assert Retriever.open(idx, encoder=FakeEncoder()).index.count() == 18
    monkeypatch.undo()
    build_index(topic_seeds, idx, encoder=FakeEncoder())
    assert _calibration(idx)["passages"] == 30
    live_segments = {s["id"] for s in store.open_current(idx)[1]["segments"]}
    assert {p.name for p in (idx / "segments").iterdir()} == live_segments | {
        s["id"] for s in store.read_manifest(idx / _version_names(idx)[1])["segments"]}
