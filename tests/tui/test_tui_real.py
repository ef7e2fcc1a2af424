"""The app on the real seed article index (real model): the participants question end to end."""

from __future__ import annotations

import shutil
import threading

import pytest
from conftest import PARTICIPANTS_Q
from textual.widgets import Static
from tui_support import SEED_NAME, SIZE, ask, citations, copy_real_seeds, make_app, notifications, run, real_app, settle, until

from tui.transcript import quote_markdown
from tui.widgets.passage_view import PassageView
from tui.widgets.source_screen import SourceScreen

pytestmark = pytest.mark.e2e


def test_participants_question_cites_line_49_and_the_source_view_highlights_it(real_index):
    app = real_app(real_index)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert "36 passages" in app.status_bar.query_one("#status-index").content.plain
            await pilot.press(*PARTICIPANTS_Q)  # typed, key by key
            assert app.question_box.value == PARTICIPANTS_Q
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            card = app.log_view.cards[0]
            await until(pilot, lambda: card.filled, what="the answer card")
            assert citations(card)[0] == f"{SEED_NAME}:49"
            sentence = card.query_one(".answer-sentence", Static).content.plain
            assert "1,500 participants and observers" in sentence and f"{SEED_NAME}:49" in sentence

            await pilot.press("tab")
            first = card.passages[0]
            assert app.focused is first
            await pilot.press("enter")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, SourceScreen)
            await until(pilot, lambda: screen.view is not None and screen.view.at_citation, what="the source view")
            view = screen.view
            assert view.highlighted_lines == [49]
            assert 49 in view.visible_line_numbers()  # scrolled to the cited line
            assert 48 in view.visible_line_numbers() and 50 in view.visible_line_numbers()  # with its neighbours
            assert view.line_text(49).startswith("Moscow expects around 1,500 participants")
            assert screen.query_one("#source-title", Static).content.plain.startswith(f"{SEED_NAME}  line 49")

            await pilot.press("ctrl+y")
            assert app.clipboard == quote_markdown(first.hit)
            assert app.clipboard.endswith(f"> — `{SEED_NAME}:49`\n")
            await pilot.press("escape")
            assert not isinstance(app.screen, SourceScreen)
            assert isinstance(app.focused, PassageView)

    run(scenario())


def test_every_mode_answers_the_participants_question(real_index):
    app = real_app(real_index)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            for mode in ("hybrid", "dense", "bm25"):
                app.options.set_mode(mode)
                card = await ask(pilot, PARTICIPANTS_Q)
                assert citations(card)[0] == f"{SEED_NAME}:49", mode
                assert card.border_subtitle == f"{mode} · k 5"

    run(scenario())


def test_rebuild_with_the_real_model_while_asking(real_index, tmp_path):
    """Copy the real index and seeds, add a file, rebuild: the old index answers until the new one is in."""
    from rag.indexing.build import build_index

    seeds = copy_real_seeds(real_index, tmp_path / "seeds")
    index = tmp_path / "indexes" / "default"
    shutil.copytree(real_index, index, ignore=shutil.ignore_patterns(".lock", "history.jsonl"))
    (seeds / "lighthouse.txt").write_text(
        "The lighthouse keeper counted seventeen ships passing the cape in one stormy night.\n",
        encoding="utf-8",
    )
    writing, gate = threading.Event(), threading.Event()

    def held_build(seeds, index, progress, **options):
        """The real build, held just before it publishes the new version."""

        def report(stage, done, total):
            progress(stage, done, total)
            if stage == "writing":
                writing.set()
                gate.wait(60)

        return build_index(seeds, index, progress=report, **options)

    app = make_app(index, seeds, history_path=None, cursor_blink=False, build=held_build)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("ctrl+r")
            await until(pilot, writing.is_set, timeout=90, what="the rebuild to reach its last step")
            assert app.building
            card = await ask(pilot, PARTICIPANTS_Q)  # during the rebuild: the old index answers
            assert citations(card)[0] == f"{SEED_NAME}:49"
            old = await ask(pilot, "How many ships did the lighthouse keeper count?")
            assert all(not c.startswith("lighthouse.txt") for c in citations(old))
            gate.set()
            await until(pilot, lambda: not app.building, timeout=90, what="the rebuild")
            await settle(pilot)
            assert "2 files" in app.status_bar.query_one("#status-index").content.plain
            card = await ask(pilot, "How many ships did the lighthouse keeper count?")
            assert citations(card)[0] == "lighthouse.txt:1"
            assert any("new index" in m for m in notifications(app))

    try:
        run(scenario())
    finally:
        gate.set()
