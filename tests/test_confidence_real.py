"""End to end: the real model on the seed article says when its documents do not answer."""

from __future__ import annotations

import json

import pytest

from conftest import PARTICIPANTS_Q
from rag.cli import NOT_FOUND, main
from rag.search.retriever import found
from unanswerable import ESPRESSO

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_an_offtopic_question_is_not_in_the_seed_article(real_retriever, mode):
    hits = real_retriever.search(ESPRESSO, k=5, mode=mode)
    assert not found(hits) and all(h.confidence < 0.5 for h in hits)


@pytest.mark.parametrize("question", [PARTICIPANTS_Q, "Who rejected the Sochi peace talks?"])
def test_a_question_from_the_seed_article_is_found(real_retriever, question):
    hits = real_retriever.search(question, k=5)
    assert found(hits) and hits[0].confidence >= 0.5


def test_rag_ask_says_not_found_on_stderr_and_json(real_index, real_seeds, capsys):
    args = ["--index", str(real_index), "--seeds", str(real_seeds)]
    assert main(["ask", ESPRESSO, *args]) == 0
    out, err = capsys.readouterr()
    assert NOT_FOUND in err and "confidence" in out
    assert main(["ask", ESPRESSO, "--json", *args]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["found"] is False and all(0 <= h["confidence"] < 0.5 for h in data["hits"])
    assert main(["ask", PARTICIPANTS_Q, "--json", *args]) == 0
    assert json.loads(capsys.readouterr().out)["found"] is True
