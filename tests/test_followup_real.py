"""Follow-up questions and question words with the real model on the seed article (end to end)."""

from __future__ import annotations

import json

import pytest

from conftest import PARTICIPANTS_Q, SEED_ARTICLE
from test_cli import rag, workdir  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e

KURDS_Q = "Will the Syrian Kurds come to the Sochi congress?"
FOLLOW_UP = "Who leads them?"  # line 37 names the Kurdish Democratic Union Party leader


def test_follow_up_finds_the_leader_only_with_its_history(real_retriever):
    alone = real_retriever.search(FOLLOW_UP, k=3)
    after = real_retriever.search(FOLLOW_UP, k=3, history=[KURDS_Q])
    assert after[0].line_start == 37 and "leader Salih Muslim" in after[0].text
    assert alone[0].line_start != 37


def test_self_contained_question_is_unchanged_by_history(real_retriever):
    alone = real_retriever.search(PARTICIPANTS_Q, k=5)
    after = real_retriever.search(PARTICIPANTS_Q, k=5, history=[KURDS_Q])
    assert [(h.row, h.score) for h in after] == [(h.row, h.score) for h in alone]


def test_question_words_do_not_match(real_retriever):
    from rag.documents.tokens import query_terms, tokenize

    wanted = set(query_terms(PARTICIPANTS_Q))
    hits = real_retriever.search(PARTICIPANTS_Q, k=5, mode="bm25")
    assert hits[0].line_start == 49
    assert "how" not in hits[0].terms and "mani" not in hits[0].terms
    for h in hits:  # no passage is found for "How" alone (line 73: "How the US Drive for Hegemony")
        assert wanted & set(tokenize(h.text)), h.text


def test_capitals_are_searched_in_earnest(real_retriever):
    hits = real_retriever.search("What does the US do?", k=3, mode="bm25")
    assert hits and hits[0].terms == ("us",)
    assert all("US" in h.text.split() for h in hits)


def test_ask_with_history_echoes_it_in_json(workdir):  # noqa: F811
    p = rag("ask", FOLLOW_UP, "--history", KURDS_Q, "--json", "-k", "3", cwd=workdir)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["history"] == [KURDS_Q] and out["question"] == FOLLOW_UP
    assert out["hits"][0]["line_start"] == 37 and out["hits"][0]["source"] == SEED_ARTICLE.name
    p = rag("ask", FOLLOW_UP, "--json", "-k", "3", cwd=workdir)
    assert json.loads(p.stdout)["history"] == []
    assert json.loads(p.stdout)["hits"][0]["line_start"] != 37


def test_why_reads_the_answer_that_was_shown(real_retriever):
    # "Why?" names nothing; the answer shown for the earlier question says what it asks about
    first = real_retriever.search(KURDS_Q, k=1)[0]
    shown = real_retriever.search("Why?", k=5, history=[KURDS_Q], history_answers=[first.text])
    questions_only = real_retriever.search("Why?", k=5, history=[KURDS_Q])
    assert [h.row for h in shown] != [h.row for h in questions_only]  # the answer shown is read
    assert shown[0].row == first.row  # and, as what a bare "Why?" asks about, not demoted


def test_ask_echoes_the_answers_shown_and_checks_their_count(workdir):  # noqa: F811
    first = json.loads(rag("ask", KURDS_Q, "--json", "-k", "1", cwd=workdir).stdout)["hits"][0]["text"]
    p = rag("ask", FOLLOW_UP, "--history", KURDS_Q, "--history-answer", first, "--json", "-k", "3", cwd=workdir)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["history"] == [KURDS_Q] and out["history_answers"] == [first]
    assert out["hits"][0]["line_start"] == 37  # the leader's line: it has the question's own word
    p = rag("ask", FOLLOW_UP, "--history", KURDS_Q, "--history-answer", "", "--json", cwd=workdir)
    assert p.returncode == 0 and json.loads(p.stdout)["history_answers"] == [None]
    p = rag("ask", FOLLOW_UP, "--history", KURDS_Q, "--history-answer", "a", "--history-answer", "b", cwd=workdir)
    assert p.returncode == 2 and "--history-answer" in p.stderr and p.stdout == ""
