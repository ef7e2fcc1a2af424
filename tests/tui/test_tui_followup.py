"""The conversation's earlier questions go with each search (follow-up questions)."""

from __future__ import annotations

from tui_support import SIZE, ask, fake_app, run, settle, small  # noqa: F401  (fixture)

from rag.documents.tokens import tokenize
from rag.search.verdict import found, verdict
from unanswerable import OWN_SUBJECT


def test_second_question_is_searched_with_the_first(small, tmp_path, monkeypatch):
    from rag.search.retriever import Retriever

    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)
    given: list = []
    real_ask = Retriever.ask

    def spy(self, question, *args, **kwargs):
        given.append(kwargs.get("history_answers"))
        return real_ask(self, question, *args, **kwargs)

    monkeypatch.setattr(Retriever, "ask", spy)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await ask(pilot, "How many ships does the harbour hold in winter?")
            second = await ask(pilot, "When do sailors repair them?")
            ex1, ex2 = app.exchanges
            assert ex1.history == () and ex2.history == (ex1.question,)
            top = second.passages[0].hit
            assert "Sailors repair the hulls" in top.text
            assert set(tokenize("harbour ships")) <= set(top.terms)  # the first question's words carried over
            # the answer the first exchange showed goes with the second search
            assert ex2.shown == (ex1.hits[0].text,) and found(ex1.hits)
            # the card says the question was read with the conversation ("them")
            assert ex1.note is None
            assert ex2.note == "Read as a follow-up: searched with the earlier questions and the last answer shown."
            assert "Read as a follow-up" in str(second.query_one(".card-note").render())
            third = await ask(pilot, OWN_SUBJECT)
            ex3 = app.exchanges[2]
            assert not found(ex3.hits) and third is not None
            assert ex3.note is None or "follow-up" not in ex3.note  # it names its own subject
            await ask(pilot, "And them?")
            assert app.exchanges[3].note == "Read as a follow-up: searched with the earlier questions."  # last: none shown
            expected = tuple(e.hits[0].text if verdict(e.hits) != "not_found" else None for e in app.exchanges[:3])
            assert app.exchanges[3].shown == expected and given[-1] == list(expected)  # and the search got them
            assert expected[0] == ex1.hits[0].text  # an answer, weak or not, is what the next turn reads
            assert all((x is None) == (verdict(e.hits) == "not_found") for x, e in zip(expected, app.exchanges))

    run(scenario())
