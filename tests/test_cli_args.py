"""`rag` argument handling and the cheap staleness probe, without the model (fast)."""

from __future__ import annotations

import argparse
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes import FakeEncoder
from rag import build_index
from rag.index import store
from rag.cli import UsageError, main, parse, parser
from rag.documents.freshness import seeds_may_have_changed

# The rule of `rag ask --help`, written out here rather than imported, so that the tests check the
# parser against the documentation.
OPTION_LIKE = re.compile(r"--?[A-Za-z][A-Za-z0-9_-]*(=.*)?", re.ASCII | re.DOTALL)


def test_every_option_of_every_command_has_help():
    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"{name} {'/'.join(a.option_strings) or a.dest}"
        for name, sub in commands.choices.items()
        for a in sub._actions
        if not a.help or a.help == argparse.SUPPRESS
    ]
    assert sorted(commands.choices) == ["ask", "chat", "eval", "index", "mcp", "serve", "status"]
    assert missing == []


def test_ask_help_documents_the_option_rule(capsys):
    assert main(["ask", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert 'put them after "--": rag ask -- --seeds' in text
    assert "--seeds, when given, must be the folder the index was built from" in text


@pytest.mark.parametrize("argv", [["ask", "--seeds"], ["ask", "q", "-k"], ["ask", "q", "--jsn"], ["ask", "-k=2"]])
def test_usage_errors_return_2_in_process(argv, capsys):
    assert main(argv) == 2  # no SystemExit escapes main()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rag ask: ")


# What `rag ask` reads from its words, without running it: the question, -k and --mode.
@pytest.mark.parametrize("argv, question, k, mode", [
    (["-5", "degrees", "in", "Sochi?"], "-5 degrees in Sochi?", 5, "hybrid"),
    (["-5 degrees in Sochi?", "--json"], "-5 degrees in Sochi?", 5, "hybrid"),
    (["--json", "-k", "2", "--", "--mode", "dense"], "--mode dense", 2, "hybrid"),
    (["Sochi", "-k3", "--mode=bm25", "--json", "--", "-x"], "Sochi -x", 3, "bm25"),
    (["-", "Sochi", "-k=2", "--json", "--?"], "- Sochi --?", 2, "hybrid"),
    (["--json", "--", "--seeds"], "--seeds", 5, "hybrid"),
    (["who", "-k", "2", "leads", "--mode", "dense", "them?"], "who leads them?", 2, "dense"),  # words around options
    (["a", "--", "b", "--", "c"], "a b -- c", 5, "hybrid"),  # the first "--" ends the options
    (["--=x", "-5x", "--5", "-é"], "--=x -5x --5 -é", 5, "hybrid"),  # not option-like: words
    (["q", "--history=-x", "-k", "7"], "q", 7, "hybrid"),  # a value may look like an option after "="
])
def test_question_words_may_stand_anywhere(argv, question, k, mode):
    args = parse(["ask", *argv])
    assert (" ".join(args.question), args.k, args.mode) == (question, k, mode)


@pytest.mark.parametrize("argv, words", [
    (["ask", "--seeds"], "rag ask: --seeds needs a value (DIR); to search for the word --seeds, put it after --: rag ask -- --seeds"),
    (["ask", "Sochi", "--index"], "--index needs a value"),
    (["ask", "Sochi", "--seeds", "--json"], "--seeds needs a value"),
    (["ask", "q", "-k", "--", "x"], "-k needs a value"),
    (["ask", "Sochi", "--jsn"], "rag ask: unknown option --jsn (did you mean --json?); to search for it, put it after --: rag ask -- --jsn"),
    (["ask", "--jsn", "Sochi"], "unknown option --jsn"),
    (["ask", "Sochi", "-x"], "unknown option -x"),
    (["ask", "Sochi", "-hx"], "unknown option -hx"),
    (["ask", "Sochi", "--mode-dense"], "unknown option --mode-dense"),
    (["ask", "Sochi", "--jso"], "unknown option --jso"),  # no abbreviations
    (["ask", "--json"], "required: question"),
    (["ask", "x", "-k=0"], "at least 1"),
    (["status", "--bogus"], "unrecognized arguments: --bogus"),
    (["index", "--wait"], "expected one argument"),
    (["--vers"], "required: COMMAND"),  # not an abbreviation of --version
])
def test_usage_errors_name_the_problem_and_the_help(argv, words):
    with pytest.raises(UsageError) as caught:
        parse(argv)
    message = str(caught.value)
    assert words in message and "\n" not in message
    assert message.endswith(f"(see `{message.split(':')[0]} --help`)")


def test_history_answers_must_match_the_history_questions(capsys):
    assert main(["ask", "q", "--history", "a", "--history-answer", "b", "--history-answer", "c"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give --history-answer as many times as --history (1)" in err


@pytest.mark.parametrize("argv, words", [
    (["serve", "--host", "0.0.0.0"], "rag serve: --host 0.0.0.0 is reachable from other machines: give a token"),
    (["serve", "--port", "0"], "rag serve: --port must be between 1 and 65535, not 0"),
    (["eval"], "rag eval: the following arguments are required: DATA_DIR (or --formats)"),
])
def test_what_a_command_checks_itself_is_a_usage_error(argv, words, monkeypatch, capsys):
    monkeypatch.delenv("RAG_TOKEN", raising=False)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and words in err


@settings(max_examples=300, deadline=None)
@given(q=st.one_of(
    st.text(min_size=1, max_size=40),
    st.from_regex(r"\A--?[A-Za-z][A-Za-z0-9_-]{0,8}(=[a-z0-9 -]{0,5})?\Z"),
    st.sampled_from(["--", "-h", "--help", "-5", "-", "--?", "-k=2", "--=x"]),
))
def test_any_word_is_a_question_word_unless_it_looks_like_an_option(q):
    """The rule of `rag ask --help`, for any word: an option-like word is an option (then a usage
    error here, as the question is missing or the option unknown or without its value); "--" ends
    the options; any other word is the question."""
    try:
        args = parse(["ask", q, "--json", "-k", "3"])
    except UsageError as exc:
        assert OPTION_LIKE.fullmatch(q) and q not in ("-h", "--help") and "\n" not in str(exc)
        assert str(exc).startswith("rag ask: ")
        return
    except SystemExit as exc:
        assert q in ("-h", "--help") and exc.code == 0
        return
    if q == "--":
        assert (args.question, args.json, args.k) == (["--json", "-k", "3"], False, 5)
    else:
        assert not OPTION_LIKE.fullmatch(q)
        assert (args.question, args.json, args.k) == ([q], True, 3)


def test_no_docstring_documents_a_model_option():
    import rag

    root = os.path.dirname(rag.__file__)
    for name in os.listdir(root):
        if name.endswith(".py"):
            with open(os.path.join(root, name), encoding="utf-8") as f:
                assert "--model" not in f.read(), name


@pytest.fixture
def built(seeds, tmp_path):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    return store.open_meta(idx)[1]


def test_probe_sees_nothing_when_nothing_changed(seeds, built):
    (seeds / ".hidden.txt").write_text("hidden files are not seeds\n", encoding="utf-8")
    (seeds / "table.csv").write_text("a,b\n", encoding="utf-8")
    assert not seeds_may_have_changed(seeds, built)


@pytest.mark.parametrize("change", [
    lambda d: (d / "new.md").write_text("A new file.\n", encoding="utf-8"),
    lambda d: (d / "notes" / "deeper").mkdir() or (d / "notes" / "deeper" / "x.txt").write_text("x\n"),
    lambda d: (d / "bread.txt").unlink(),
    lambda d: (d / "bread.txt").write_text("Bread rises because yeast makes CO2.\n", encoding="utf-8"),
    lambda d: os.utime(d / "cats.txt", ns=(0, 10**18)),  # same content, new mtime: the exact check decides
], ids=["added", "added-deep", "removed", "modified", "touched"])
def test_probe_sees_every_kind_of_change(seeds, built, change):
    change(seeds)
    assert seeds_may_have_changed(seeds, built)
