"""The answer sentence: chosen sensibly and located exactly (line and column range in the file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes import FakeEncoder
from rag import Retriever, build_index
from rag.search.answer import best_sentence, locate
from rag.documents.chunking import passages_of


def text_at(lines: list[str], a) -> str:
    """The file's text from (line_start, col_start) to (line_end, col_end), inclusive."""
    if a.line_start == a.line_end:
        return lines[a.line_start - 1][a.col_start - 1 : a.col_end]
    parts = [lines[a.line_start - 1][a.col_start - 1 :]]
    parts += lines[a.line_start : a.line_end - 1]
    parts.append(lines[a.line_end - 1][: a.col_end])
    return "\n".join(parts)


def test_locate_multiline_and_offsets():
    text = "Intro line\n\nFirst sentence here. Second one\nspans two lines. Third."
    p = passages_of("f.txt", text)[1]
    a, b = 21, 48  # "Second one\nspans two lines."
    ans = locate(p, a, b, 1.0)
    assert ans.text == "Second one\nspans two lines."
    assert (ans.line_start, ans.col_start, ans.line_end, ans.col_end) == (3, 22, 4, 16)
    assert text[ans.char_start : ans.char_end] == ans.text
    assert text_at(text.split("\n"), ans) == ans.text


def test_best_sentence_prefers_question_words_weighted_by_rarity():
    text = "The river is long. Salmon swim upstream to spawn in autumn. The river is wide."
    p = passages_of("f.txt", text)[0]
    idf = {"salmon": 3.0, "spawn": 3.0, "river": 0.5}.get
    ans = best_sentence(["salmon", "spawn", "river"], p, lambda t: idf(t) or 0.0)
    assert ans.text == "Salmon swim upstream to spawn in autumn."


def test_every_answer_is_located_exactly_in_its_file(seeds: Path, tmp_path):
    (seeds / "long.txt").write_text(
        "Preface.\n\n  Indented start. The harbour holds ships.\nSailors mend nets at dawn. Ships leave.\n",
        encoding="utf-8",
    )
    idx = tmp_path / "idx"
    enc = FakeEncoder()
    build_index(seeds, idx, encoder=enc)
    r = Retriever.open(idx, encoder=enc)
    for q in ["sailors nets dawn", "harbour ships", "cats hunt", "bread yeast"]:
        for h in r.search(q, k=5):
            lines = Path(h.path).read_text(encoding="utf-8").split("\n")
            assert h.answer is not None and h.answer.text in h.text
            assert text_at(lines, h.answer) == h.answer.text, (q, h.citation)
            assert h.line_start <= h.answer.line_start <= h.answer.line_end <= h.line_end


def test_answer_for_split_paragraph_piece_has_right_columns(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    words = " ".join(f"w{i}." if i % 9 == 8 else f"w{i}" for i in range(400))
    (seeds / "big.txt").write_text("Head\n\n" + words + "\n", encoding="utf-8")
    enc = FakeEncoder()  # window of 64 word-pieces: the paragraph is split mid-line
    build_index(seeds, tmp_path / "idx", encoder=enc)
    r = Retriever.open(tmp_path / "idx", encoder=enc)
    lines = (seeds / "big.txt").read_text(encoding="utf-8").split("\n")
    pieces = [p for p in r.passages if p.paragraph == 2]
    assert len(pieces) > 3
    for h in r.search("w300 w301 w302", k=3, mode="bm25"):
        assert text_at(lines, h.answer) == h.answer.text


@pytest.mark.e2e
def test_real_answer_for_participants_question(real_retriever):
    from conftest import PARTICIPANTS_Q, SEED_ARTICLE

    hits = real_retriever.search(PARTICIPANTS_Q, k=5)
    top = hits[0]
    assert top.answer.text.startswith("Moscow expects around 1,500 participants")
    lines = SEED_ARTICLE.read_text(encoding="utf-8").split("\n")
    for h in hits:
        assert text_at(lines, h.answer) == h.answer.text


@pytest.mark.parametrize("question,kind", [
    ("How many people attended the summit?", "number"),
    ("what percentage of patients recovered", "number"),
    ("When was the treaty signed?", "date"),
    ("In what year did the war end", "date"),
    ("Who leads the Kurds?", "person"),
    ("Where is the summit held?", "place"),
    ("WHO guidelines on masks", None),  # the organisation, not a question word
    ("What is climate change?", None),
    ("Aspirin lowers risk when taken daily", None),  # a statement: "when" asks for nothing
])
def test_answer_type_of_question(question, kind):
    from rag.search.answer import answer_type

    assert answer_type(question) == kind


def test_has_answer_type_ignores_the_questions_own_words():
    from rag.search.answer import has_answer_type

    assert has_answer_type("date", "The treaty was signed in 1648.")
    assert not has_answer_type("date", "The treaty was signed in 1648.", frozenset({"1648"}))
    assert has_answer_type("number", "Over 120 leaders came.")
    assert not has_answer_type("number", "Many leaders came.")
    assert has_answer_type("person", "The summit was opened by Boris Johnson.")
    assert not has_answer_type("person", "The summit was opened by Boris Johnson.", frozenset({"boris", "johnson"}))
    assert not has_answer_type("person", "Leaders met at the summit.")  # a capital that starts the sentence
    assert has_answer_type("place", "Leaders met in Glasgow last year.")


def test_best_sentence_prefers_the_sentence_holding_the_kind_of_answer_asked_for():
    text = "The treaty ended the war between the states. The treaty was signed after long talks in 1648."
    p = passages_of("f.txt", text)[0]
    idf = {"treati": 2.0, "war": 0.3}.get  # lexically, the first sentence wins
    terms = ["treati", "war"]  # stems as tokenize gives them
    look = lambda t: idf(t) or 0.0  # noqa: E731
    plain = best_sentence(terms, p, look)
    assert plain.text == "The treaty ended the war between the states."
    typed = best_sentence(terms, p, look, question="When did the treaty war end?")
    assert typed.text == "The treaty was signed after long talks in 1648."
    untyped = best_sentence(terms, p, look, question="What did the treaty war end?")
    assert untyped.text == plain.text
