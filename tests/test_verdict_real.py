"""The conversation of issue 21, asked in one go on the seed article with the real model: the verdict
a person reads first never hides a right answer under "Not in your documents", self-contained
questions are not read as follow-ups, and "Why?" reads the answer just shown."""

from __future__ import annotations

import pytest

from rag.search.verdict import verdict
from unanswerable import ESPRESSO

pytestmark = pytest.mark.e2e

# (question, the seed article's lines that answer it, or None for one it does not answer,
#  whether it leans on the conversation)
CONVERSATION = [
    ("Who wrote the article?", {5, 71}, False),
    ("What is the title of his newest book?", {73}, True),
    ("Will the Syrian Kurds come to Sochi?", {37, 41}, False),
    ("Who leads them?", {37}, True),
    ("Which countries will attend?", {29, 31}, False),
    ("What is happening in Afrin?", {33, 39, 43}, False),
    ("Did the opposition groups accept the talks?", {17}, False),
    ("Why?", {17}, True),
    (ESPRESSO, None, False),  # not a calibration question (tests/unanswerable.py)
]


def test_the_issue_conversation_in_one_go(real_retriever):
    history: list[str] = []
    shown: list[str | None] = []
    for question, lines, leans in CONVERSATION:
        hits = real_retriever.search(question, k=5, history=list(history), history_answers=list(shown) or None)
        said = verdict(hits)
        assert real_retriever.follow_up(question, history).depends == leans, question
        if lines is None:
            assert said == "not_found", question
        else:
            assert said != "not_found", question  # never hidden under "not in your documents"
            assert hits[0].line_start in lines, (question, hits[0].line_start)
        history.append(question)
        shown.append(hits[0].text if said != "not_found" else None)


def test_a_follow_ups_verdict_does_not_fade_with_the_conversation(real_retriever):
    """ "Who leads them?" reads the same after 1 earlier question as after 6."""
    kurds = "Will the Syrian Kurds come to Sochi?"
    before = ["Who wrote the article?", "When is the congress in Sochi?", "Was the United States invited?",
              "How many participants are expected?", "What is Operation Olive Branch?"]
    answer = real_retriever.search(kurds, k=1)[0].text
    short = real_retriever.search("Who leads them?", k=5, history=[kurds], history_answers=[answer])
    long = real_retriever.search("Who leads them?", k=5, history=[*before, kurds],
                                 history_answers=[None] * len(before) + [answer])
    assert short[0].line_start == long[0].line_start == 37
    assert long[0].confidence == pytest.approx(short[0].confidence, abs=1e-6)
    assert verdict(long) == verdict(short) == "answer"


def test_a_short_self_contained_question_reads_as_alone_late_in_a_conversation(real_retriever):
    """ "Who wrote the article?" (two words of its own, none pointing back) after turns about Klimov: the
    documents answer it better alone, so it gets the hits and the verdict it gets alone; a bare "When?"
    still leans on the conversation."""
    history = ["Who is Andrei Klimov?", "What did he say about the American media?", "Which outlets did he mean?"]
    alone = real_retriever.ask("Who wrote the article?", k=5)
    in_chat = real_retriever.ask("Who wrote the article?", k=5, history=history)
    assert [h.row for h in in_chat.hits] == [h.row for h in alone.hits]
    assert not in_chat.follow_up.depends and in_chat.verdict == alone.verdict
    assert real_retriever.ask("When?", k=5, history=["Did the opposition groups accept the talks?"]).follow_up.depends
