"""One set of request limits for HTTP, MCP and Ray Serve (rag.search.limits)."""

from __future__ import annotations

import pytest

from rag.errors import QuestionError
from rag.search.limits import LIMITS, RequestLimits, checked_request, clean_text


def test_a_good_request_comes_back_as_it_was_sent():
    r = checked_request("Who leads them?", 3, "bm25", ["Who are the Kurds?"], ["The Kurds ..."])
    assert (r.question, r.k, r.mode, r.history, r.history_answers) == (
        "Who leads them?", 3, "bm25", ("Who are the Kurds?",), ("The Kurds ...",))
    assert checked_request("q").history == () and checked_request("q").history_answers is None


@pytest.mark.parametrize("args,words", [
    (("",), "non-empty"),
    (("   ",), "non-empty"),
    ((None,), "non-empty"),
    (("x" * (LIMITS.max_question_chars + 1),), "longer than"),
    (("q", 0), "from 1 to"),
    (("q", LIMITS.max_k + 1), "from 1 to"),
    (("q", True), "from 1 to"),
    (("q", "5"), "from 1 to"),
    (("q", 5, "fuzzy"), "mode must be one of"),
    (("q", 5, "hybrid", "one string"), "list of texts"),
    (("q", 5, "hybrid", [3]), "must be text"),
    (("q", 5, "hybrid", ["a"], ["x", "y"]), "one earlier answer"),
    (("q", 5, "hybrid", ["a"], [7]), "text or null"),
])
def test_a_bad_request_is_one_line_that_says_what_is_allowed(args, words):
    with pytest.raises(QuestionError) as e:
        checked_request(*args)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_only_the_most_recent_turns_are_kept():
    small = RequestLimits(max_history=2)
    r = checked_request("q", history=["a", "b", "c"], history_answers=["A", None, "C"], limits=small)
    assert r.history == ("b", "c") and r.history_answers == (None, "C")


def test_lone_surrogates_are_replaced_where_text_enters():
    r = checked_request("zanzibar \udcff clipboard", history=["\udfff"], history_answers=["x\ud800"])
    assert r.question == "zanzibar \ufffd clipboard" and r.history == ("\ufffd",) and r.history_answers == ("x\ufffd",)
    assert clean_text("caf\u00e9 \U0001F600") == "caf\u00e9 \U0001F600"  # real characters, astral ones too, stay
    r.question.encode("utf-8")  # encodable now


def test_the_retriever_cleans_what_scripts_pass(tmp_path, fake_encoder):
    """A lone surrogate (what `rag ask $'zanzibar \\xff'` becomes in Python) is searched, never a traceback."""
    from rag import Retriever, build_index

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.txt").write_text("The zanzibar clipboard holds notes.\n", encoding="utf-8")
    build_index(seeds, tmp_path / "idx", encoder=fake_encoder)
    r = Retriever.open(tmp_path / "idx", encoder=fake_encoder)
    hits = r.search("zanzibar \udcff clipboard", k=1, history=["why \udfff"], history_answers=["x\ud800"])
    assert hits and "zanzibar" in hits[0].terms


@pytest.mark.e2e
def test_rag_ask_with_bytes_that_are_not_utf8(real_index, real_seeds, capsys):
    from rag.cli import main

    args = ["--index", str(real_index), "--seeds", str(real_seeds)]
    assert main(["ask", *args, "zanzibar \udcff clipboard", "--history", "why \udfff"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err and out.startswith("Not in your documents")
    assert main(["ask", *args, "--json", "zanzibar \udcff clipboard", "--history", "why \udfff"]) == 0
    data = __import__("json").loads(capsys.readouterr().out)
    assert data["question"] == "zanzibar \ufffd clipboard" and data["history"] == ["why \ufffd"]
