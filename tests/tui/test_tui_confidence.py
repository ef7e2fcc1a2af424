"""Pilot test: a question the documents do not answer gets "not in your documents" (fake encoder)."""

from __future__ import annotations

from textual.widgets import Static
from tui_support import SIZE, ask, fake_app, run, settle, small  # noqa: F401  (fixture)

from tui.widgets.answer_card import NOT_FOUND
from unanswerable import ESPRESSO


def test_unanswerable_question_says_not_in_your_documents(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            card = await ask(pilot, ESPRESSO)
            assert card.has_class("-not-found") and card.border_title.startswith("Not in your documents · confidence 0.")
            assert card.query_one(".card-not-found", Static).content.plain == NOT_FOUND
            assert not card.query(".answer-sentence")  # no confident-looking answer
            assert card.passages  # the nearest passages are still offered
            assert all(p.hit.confidence < 0.5 for p in card.passages)
            good = await ask(pilot, "When do cats hunt at dawn?")
            assert not good.has_class("-not-found") and good.query(".answer-sentence")

    run(scenario())
