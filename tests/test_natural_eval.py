"""rag eval DIR on a set of natural questions (rag.evaluation.natural): the metrics on small fakes, and
the report's structure on the seed development set (not its quality)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.errors import DataError
from rag.evaluation import natural
from rag.evaluation.natural import Gold, Question, evaluate_natural, is_right, load_questions, outcome, summarize
from rag.types import Hit

ROOT = Path(__file__).resolve().parents[1]


def hit(source: str, a: int, b: int, conf: float | None, page: int | None = None, text: str = "t") -> Hit:
    return Hit(row=0, rank=1, score=1.0, text=text, source=source, path=source, line_start=a, line_end=b, paragraph=1,
               char_start=0, char_end=1, page=page, confidence=conf)


def q(kind: str = "answerable", style: str = "what", gold=(Gold("a.txt", 3, 4),), **kw) -> Question:
    return Question(kw.pop("id", "x"), kw.pop("question", "what?"), kind, style, tuple(gold) if kind == "answerable" else (), **kw)


def test_a_hit_is_right_when_its_lines_overlap_a_gold_range_of_the_same_source_and_page():
    gold = [Gold("a.txt", 3, 4), Gold("b.pdf", 1, 2, page=2)]
    assert is_right(hit("a.txt", 4, 9, 0.9), gold)
    assert is_right(hit("a.txt", 1, 3, 0.9), gold)
    assert not is_right(hit("a.txt", 5, 9, 0.9), gold)
    assert not is_right(hit("c.txt", 3, 4, 0.9), gold)
    assert is_right(hit("b.pdf", 2, 2, 0.9, page=2), gold)
    assert not is_right(hit("b.pdf", 2, 2, 0.9, page=1), gold)


def test_outcome_reads_the_verdict_from_the_best_confidence_and_top1_top3_from_the_order():
    o = outcome(q(), [hit("a.txt", 9, 9, 0.3), hit("a.txt", 3, 3, 0.6), hit("z.txt", 1, 1, 0.1)])
    assert (o.verdict, o.confidence, o.top1, o.top3) == ("answer", 0.6, False, True)
    assert outcome(q(), [hit("a.txt", 3, 3, 0.1)]).verdict == "not_found"
    assert outcome(q(), [hit("a.txt", 3, 3, 0.3)]).verdict == "weak"
    assert outcome(q(), []).verdict == "not_found"
    late = outcome(q(), [hit("z.txt", i, i, 0.9) for i in range(3)] + [hit("a.txt", 3, 3, 0.9)])
    assert not late.top3  # right only at rank 4


def test_summary_rates_per_kind_and_style_and_auroc():
    outs = [outcome(q(style="who"), [hit("a.txt", 3, 3, 0.9)]),  # right, answer
            outcome(q(style="who"), [hit("a.txt", 3, 3, 0.1)]),  # right, false not-found
            outcome(q(style="why"), [hit("z.txt", 3, 3, 0.3)]),  # wrong, weak
            outcome(q("unanswerable", "what"), [hit("z.txt", 1, 1, 0.05)]),
            outcome(q("offtopic", "how"), [hit("z.txt", 1, 1, 0.6)])]
    s = summarize(outs)
    assert (s["n"], s["answerable"], s["negatives"]) == (5, 3, 2)
    assert s["top1"] == pytest.approx(2 / 3, abs=1e-4) and s["false_not_found"] == pytest.approx(1 / 3, abs=1e-4)
    assert s["answer"] == pytest.approx(1 / 3, abs=1e-4) and s["weak"] == pytest.approx(1 / 3, abs=1e-4)
    assert s["negatives_not_found"] == 0.5 and s["negatives_not_answer"] == 0.5
    # right top-1 (0.9, 0.1) against negatives (0.05, 0.6): 0.9 beats both, 0.1 beats one
    assert s["auroc"] == 0.75
    assert s["by_kind"]["answerable"]["n"] == 3 and s["by_kind"]["offtopic"]["top1"] is None
    assert s["by_style"]["who"] == {"n": 2, "top1": 1.0, "top3": 1.0, "answer": 0.5, "weak": 0.0, "not_found": 0.5}


def test_summary_without_negatives_has_no_auroc():
    assert summarize([outcome(q(), [hit("a.txt", 3, 3, 0.9)])])["auroc"] is None


def test_load_questions_checks_its_records(tmp_path):
    f = tmp_path / "questions.jsonl"
    f.write_text(json.dumps({"id": "1", "question": "q", "kind": "answerable", "style": "what", "gold": []}) + "\n")
    with pytest.raises(DataError, match="gold"):
        load_questions(f)
    f.write_text(json.dumps({"id": "1", "question": "q", "kind": "maybe", "style": "what"}) + "\n")
    with pytest.raises(DataError, match="kind"):
        load_questions(f)
    f.write_text('{"id": "1"}\n')
    with pytest.raises(DataError):
        load_questions(f)


class RecordingRetriever:
    """Answers each question with preset hits and records what the conversation passed."""

    def __init__(self, answers: dict[str, list[Hit]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, list[str], list[str | None] | None]] = []

    def search(self, question, k=5, mode="hybrid", history=None, history_answers=None):
        self.calls.append((question, list(history or []), history_answers))
        return self.answers[question]


def test_the_conversation_passes_earlier_questions_and_the_passages_shown_for_them():
    r = RecordingRetriever({"one": [hit("a.txt", 1, 1, 0.9, text="shown one")],
                            "two": [hit("a.txt", 2, 2, 0.1, text="hidden")],
                            "three": [hit("a.txt", 3, 3, 0.3, text="weak three")],
                            "four": []})
    turns = [q(question=t) for t in ("one", "two", "three", "four")]
    natural.ask_conversation(r, turns)
    assert r.calls[0] == ("one", [], None)
    assert r.calls[1] == ("two", ["one"], ["shown one"])
    assert r.calls[3] == ("four", ["one", "two", "three"], ["shown one", None, "weak three"])


def _tiny_set(root: Path) -> Path:
    s = root / "set"
    (s / "docs").mkdir(parents=True)
    (s / "docs" / "cats.txt").write_text("Cats sleep most of the day.\n\nCats hunt at dawn.\n", encoding="utf-8")
    (s / "docs" / "ships.txt").write_text("The harbour holds forty ships.\n\nSailors repair hulls.\n", encoding="utf-8")
    g = lambda src, n: [{"source": src, "line_start": n, "line_end": n, "page": None}]  # noqa: E731
    qs = [{"id": "1", "question": "When do cats hunt?", "kind": "answerable", "style": "when", "gold": g("cats.txt", 3)},
          {"id": "2", "question": "harbour ships", "kind": "answerable", "style": "keyword", "gold": g("ships.txt", 1)},
          {"id": "3", "question": "Who won the cup?", "kind": "offtopic", "style": "who", "gold": []}]
    conv = [{"id": "c1", "question": "When do cats hunt?", "kind": "answerable", "style": "when", "depends": False,
             "gold": g("cats.txt", 3)},
            {"id": "c2", "question": "And sleep?", "kind": "answerable", "style": "what", "depends": True,
             "rewrite": "When do cats sleep?", "gold": g("cats.txt", 1)}]
    (s / "questions.jsonl").write_text("".join(json.dumps(x) + "\n" for x in qs), encoding="utf-8")
    (s / "conversation.jsonl").write_text("".join(json.dumps(x) + "\n" for x in conv), encoding="utf-8")
    return s


def test_evaluate_natural_on_a_tiny_set_counts_every_question(tmp_path, fake_encoder):
    s = _tiny_set(tmp_path)
    res = evaluate_natural(s, index=tmp_path / "idx", encoder=fake_encoder)
    assert res["name"] == "set" and res["split"] == tmp_path.name
    assert res["questions"]["n"] == 3 and res["questions"]["answerable"] == 2
    assert res["questions"]["by_kind"]["offtopic"]["n"] == 1
    c = res["conversation"]
    assert c["n"] == 2 and c["self_contained"]["n"] == 1 and c["depends"]["n"] == 1
    assert c["self_contained"]["same_as_alone"] == 1.0  # the first turn has no history
    assert [t["id"] for t in c["turns"]] == ["c1", "c2"]
    text = natural.format_report(res)
    assert "set" in text and "conversation (2 turns" in text


def test_a_set_names_its_documents_with_docs_txt(tmp_path, fake_encoder):
    s = _tiny_set(tmp_path)
    (s / "docs").rename(tmp_path / "elsewhere")
    (s / "docs.txt").write_text(str(tmp_path / "elsewhere") + "\n")
    assert natural.docs_folder(s) == tmp_path / "elsewhere"
    (s / "docs.txt").write_text("no/such/folder\n")
    with pytest.raises(DataError):
        natural.docs_folder(s)


@pytest.mark.e2e
def test_rag_eval_on_the_seed_set_reports_every_question(tmp_path, capsys):
    from rag.cli import main

    seed = ROOT / "bench" / "devsets" / "seed"
    assert main(["eval", str(seed), "--json", "--index", str(tmp_path / "idx")]) == 0
    res = json.loads(capsys.readouterr().out)
    qs = load_questions(seed / "questions.jsonl")
    turns = load_questions(seed / "conversation.jsonl")
    assert res["name"] == "seed" and res["split"] == "devsets"
    got = res["questions"]
    assert got["n"] == len(qs) and got["answerable"] == sum(x.kind == "answerable" for x in qs)
    assert {k: v["n"] for k, v in got["by_kind"].items()} == {k: sum(x.kind == k for x in qs) for k in {x.kind for x in qs}}
    assert sum(v["n"] for v in got["by_style"].values()) == len(qs)
    for key in ("top1", "top3", "false_not_found", "answer", "weak", "negatives_not_found", "negatives_not_answer", "auroc"):
        assert got[key] is None or 0.0 <= got[key] <= 1.0
    conv = res["conversation"]
    assert conv["n"] == len(turns) and len(conv["turns"]) == len(turns)
    assert conv["depends"]["n"] == sum(bool(t.depends) for t in turns)
    assert conv["self_contained"]["n"] == sum(not t.depends for t in turns)
    assert {t["verdict"] for t in conv["turns"]} <= {"answer", "weak", "not_found"}


def test_the_rewrite_gap_compares_bare_conversation_and_rewritten_top3():
    class Canned:
        """Answers the bare follow-ups wrong and the rewrites right."""

        def search_many(self, questions, k=5, mode="hybrid"):
            return [[hit("a.txt", 3, 4, 0.9)] if q.startswith("rewritten") else [hit("b.txt", 1, 1, 0.9)]
                    for q in questions]

    fus = [q(id=f"f{i}", question=f"and {i}?", depends=True, rewrite=f"rewritten {i}") for i in range(4)]
    chat = {f"f{i}": [hit("a.txt", 3, 4, 0.9)] if i < 3 else [hit("b.txt", 1, 1, 0.9)] for i in range(4)}
    g = natural.rewrite_gap(Canned(), fus, chat, "hybrid", 5)
    assert (g["n"], g["raw"], g["chat"], g["rewrite"], g["closed"]) == (4, 0.0, 0.75, 1.0, 0.75)
    assert natural.rewrite_gap(Canned(), [], {}, "hybrid", 5)["closed"] is None
