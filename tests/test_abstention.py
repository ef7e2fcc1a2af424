"""The abstention evaluation (rag eval --abstention): metrics, the half-removed corpus, the checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes import FakeEncoder
from unanswerable import OUT_OF_CORPUS
from rag.evaluation.abstention import evaluate_abstention, ood_questions, remove_and_recalibrate, split_claims
from rag.evaluation.metrics import accuracy_at, auroc, expected_calibration_error, oracle_accuracy
from rag.index import store
from rag.search.confidence import Calibration
from rag.index.local import LocalIndex


def test_auroc_counts_pairs_and_ties():
    assert auroc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    # one positive above both negatives, one tied with one and above the other: (2 + 1.5) / 4
    assert auroc([0.9, 0.5, 0.5, 0.1], [True, True, False, False]) == pytest.approx(0.875)
    with pytest.raises(ValueError):
        auroc([0.3, 0.4], [True, True])


def test_accuracy_at_threshold():
    assert accuracy_at([0.5, 0.49, 0.9, 0.1], [True, False, False, False], 0.5) == 0.75


def test_oracle_accuracy_picks_the_best_cut_and_keeps_ties_together():
    # the best cut is between 0.6 and 0.4: 5 of 6 right (the negative at 0.7 is wrong)
    assert oracle_accuracy([0.9, 0.7, 0.6, 0.4, 0.2, 0.1], [True, False, True, False, False, False]) == pytest.approx(5 / 6)
    # tied scores go together: no cut separates them
    assert oracle_accuracy([0.5, 0.5, 0.1], [True, False, False]) == pytest.approx(2 / 3)
    # all negative: the cut above everything
    assert oracle_accuracy([0.3, 0.2], [False, False]) == 1.0


def test_expected_calibration_error_bins():
    # perfectly calibrated bins: 0.25 predicted, 1 of 4 positive; 0.75 predicted, 3 of 4 positive
    probs = [0.25] * 4 + [0.75] * 4
    labels = [True, False, False, False, True, True, True, False]
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0)
    # all 0.9, none positive: off by 0.9; a probability of exactly 1.0 lands in the last bin
    assert expected_calibration_error([0.9, 0.9], [False, False]) == pytest.approx(0.9)
    assert expected_calibration_error([1.0, 0.0], [True, False]) == pytest.approx(0.0)
    # two bins with different gaps, weighted by their cases: (3 * 0.1 + 1 * 0.6) / 4
    assert expected_calibration_error([0.1, 0.1, 0.1, 0.6], [False] * 4) == pytest.approx(0.225)


def test_split_claims_removes_every_gold_of_the_absent_half_and_keeps_clean_labels():
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(10)}
    qrels["q10"] = {"d0": 1, "d1": 1}  # shares gold documents with q0 and q1
    qrels["q11"] = {"d99": 0}  # not judged relevant to anything: not a claim of either half
    sp = split_claims(qrels, seed=3)
    assert "q11" not in sp.answerable + sp.absent
    assert len(sp.absent) == 5 and not set(sp.absent) & set(sp.answerable)
    removed = set(sp.removed)
    for q in sp.absent:
        assert all(d in removed for d in qrels[q])
    for q in sp.answerable:
        assert not any(d in removed for d in qrels[q])
    assert split_claims(qrels, seed=3) == sp and split_claims(qrels, seed=4) != sp


TOPICS = {
    "d0": "Magma rises through the crust and erupts as lava from the volcano vent, and basalt forms when lava cools.",
    "d1": "Worker bees collect nectar and pollen from flowers; the queen lays eggs in wax cells of the brood comb.",
    "d2": "A sloop carries a mainsail and a jib on a single mast; sailors reef the mainsail when gusts are strong.",
    "d3": "The parser builds an abstract syntax tree from the token stream before register allocation runs.",
    "d4": "Glaciers carve deep valleys as compacted snow turns to ice; moraines mark where rock debris was left.",
    "d5": "Apple trees are grafted onto dwarfing rootstock, and pruning in winter opens the canopy to sunlight.",
    "d6": "Tides rise and fall twice a day as the moon pulls on the oceans of the turning earth.",
    "d7": "Sourdough bread rises slowly as wild yeast and lactic bacteria ferment the flour and water.",
}
CLAIMS = {
    "q0": ("Lava from a volcano vent cools into basalt.", "d0"),
    "q1": ("Worker bees collect nectar and pollen from flowers.", "d1"),
    "q2": ("Sailors reef the mainsail of a sloop in strong gusts.", "d2"),
    "q3": ("A parser builds an abstract syntax tree from tokens.", "d3"),
    "q4": ("Glaciers carve deep valleys from compacted snow.", "d4"),
    "q5": ("Apple trees are grafted onto dwarfing rootstock.", "d5"),
}


@pytest.fixture
def tiny_beir(tmp_path: Path) -> Path:
    d = tmp_path / "tiny"
    d.mkdir()
    (d / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n"
                                            for k, v in TOPICS.items()), encoding="utf-8")
    (d / "queries-test.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n"
                                                  for q, (t, _) in CLAIMS.items()), encoding="utf-8")
    (d / "qrels-test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{g}\t1\n" for q, (_, g) in CLAIMS.items()), encoding="utf-8")
    (d / "ood.jsonl").write_text("".join(json.dumps({"rewrite": q}) + "\n" for q in OUT_OF_CORPUS),
                                      encoding="utf-8")
    return d


def _sources(idx: Path) -> set[str]:
    with LocalIndex.open(idx) as ix:
        return {ix.payload_at(p)["source"] for p in range(ix.count())}


def test_remove_and_recalibrate_leaves_the_source_alone_and_publishes_one_calibrated_version(tiny_beir, tmp_path):
    from rag.evaluation import beir
    from rag.indexing.build import build_passages

    ds = beir.load(tiny_beir)
    src = tmp_path / "src"
    build_passages(src, ds.passages, {"corpus.jsonl": {"sha256": ds.corpus_sha256}}, encoder=FakeEncoder())
    before = (src / "CURRENT").read_text(encoding="utf-8")
    dst = tmp_path / "copy"
    assert remove_and_recalibrate(src, dst, ["d1", "d4"], FakeEncoder()) == 6
    assert _sources(dst) == set(TOPICS) - {"d1", "d4"}
    assert _sources(src) == set(TOPICS) and (src / "CURRENT").read_text(encoding="utf-8") == before
    _, manifest = store.open_current(dst)
    cal = Calibration.from_json(manifest["meta"]["calibration"])
    assert cal is not None and cal.passages == 6
    assert (dst / ".previous").read_text(encoding="utf-8") == before  # the copy's one new version
    assert remove_and_recalibrate(src, dst, [], FakeEncoder()) == 8  # a second call starts from the source again


def test_ood_questions_are_distinct(tiny_beir):
    assert OUT_OF_CORPUS[0] == OUT_OF_CORPUS[2]  # the premise: the file repeats a question
    assert ood_questions(tiny_beir / "ood.jsonl") == [OUT_OF_CORPUS[0], OUT_OF_CORPUS[1], OUT_OF_CORPUS[3]]


def test_evaluate_abstention_reports_both_checks(tiny_beir, tmp_path):
    res = evaluate_abstention(tiny_beir, "test", ("hybrid", "bm25"), index=tmp_path / "idx", ood=tiny_beir / "ood.jsonl",
                              work=tmp_path / "work", encoder=FakeEncoder())
    rm = res["checks"]["removed_gold"]
    assert rm["removed_documents"] == 3 and rm["corpus"] == 5
    oc = res["checks"]["out_of_corpus"]
    assert oc["corpus"] == 8
    for check in (rm, oc):
        for mode in ("hybrid", "bm25"):
            m = check["modes"][mode]
            assert 0.0 <= m["auroc"] <= 1.0 and 0.0 <= m["ece"] <= 1.0
            assert m["answerable"] == m["unanswerable"] == 3
        # the raw-cosine baseline is there where there is a cosine, and only there
        assert 0.0 <= check["modes"]["hybrid"]["raw_cosine_auroc"] <= 1.0
        assert 0.5 <= check["modes"]["hybrid"]["raw_cosine_oracle_accuracy"] <= 1.0
        assert "raw_cosine_auroc" not in check["modes"]["bm25"]
    # words of the claims are in their passages; the off-topic questions share none with the corpus
    assert oc["modes"]["hybrid"]["auroc"] == 1.0


def test_rag_eval_abstention_cli_prints_a_table(tiny_beir, tmp_path, capsys, monkeypatch):
    from rag import cli
    from rag.evaluation import abstention

    real = abstention.evaluate_abstention
    monkeypatch.setattr(abstention, "evaluate_abstention",
                        lambda *a, **kw: real(*a, **{**kw, "encoder": FakeEncoder(), "work": tmp_path / "w"}))
    code = cli.main(["eval", str(tiny_beir), "--abstention", "--mode", "bm25", "--index", str(tmp_path / "i"),
                     "--ood", str(tiny_beir / "ood.jsonl"), "--json"])
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res["checks"]) == {"removed_gold", "out_of_corpus"} and list(res["checks"]["removed_gold"]["modes"]) == ["bm25"]
