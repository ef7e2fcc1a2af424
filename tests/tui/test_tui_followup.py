"""The conversation's earlier questions go with each search (follow-up questions)."""

from __future__ import annotations

from tui_support import SIZE, ask, fake_app, run, settle, small  # noqa: F401  (fixture)

from rag.documents.tokens import tokenize


def test_second_question_is_searched_with_the_first(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)

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

    run(scenario())
