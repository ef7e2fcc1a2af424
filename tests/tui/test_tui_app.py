"""Pilot tests of the app on small seeds indexed with the fake encoder (fast, no model)."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Static
from tui_support import (
    SIZE,
    GatedEncoder,
    ask,
    citations,
    fake_app,
    notifications,
    run,
    run_command,
    settle,
    small,  # noqa: F401  (fixture)
    until,
    write_small_seeds,
)

from tui.widgets.build_progress import BuildProgress
from tui.widgets.passage_view import PassageView
from tui.widgets.seeds_banner import SeedsBanner
from tui.widgets.settings_screen import SettingsScreen
from tui.widgets.source_screen import SourceScreen

# Each scenario drives the whole Textual app (about a second of CPU each): the full run has them;
# `make test-fast` keeps the UI's units and a few pilot scenarios (test_tui_confidence, _followup,
# _logview, _pdf) to stay under a minute.
pytestmark = pytest.mark.slow


def test_question_is_answered_with_citations(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            card = await ask(pilot, "When do cats hunt at dawn?")
            assert citations(card)[0] == "cats.txt:3-4"
            assert [p.hit.rank for p in card.passages] == list(range(1, len(card.passages) + 1))
            sentence = card.query_one(".answer-sentence", Static).content.plain
            assert "They hunt at dawn and dusk." in sentence and "cats.txt:4" in sentence  # the sentence's line

    run(scenario())


def test_history_is_recalled_across_restarts(small, tmp_path):
    seeds, index, enc = small
    history = tmp_path / "history.jsonl"

    async def first():
        app = fake_app(seeds, index, enc, tmp_path, history_path=history)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await ask(pilot, "When do cats hunt at dawn?")
            await ask(pilot, "How many ships in winter?")
            await settle(pilot)

    async def second():
        app = fake_app(seeds, index, enc, tmp_path, history_path=history)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            box = app.question_box
            box.value = "draft"
            await pilot.press("up")
            assert box.value == "How many ships in winter?"
            await pilot.press("up")
            assert box.value == "When do cats hunt at dawn?"
            await pilot.press("up")  # stays at the oldest
            assert box.value == "When do cats hunt at dawn?"
            await pilot.press("down", "down")
            assert box.value == "draft"  # back to what was being typed

    run(first())
    assert [json.loads(line)["q"] for line in history.read_text().splitlines()] == [
        "When do cats hunt at dawn?",
        "How many ships in winter?",
    ]
    run(second())


def test_damaged_history_file_does_not_stop_the_app(small, tmp_path):
    seeds, index, enc = small
    history = tmp_path / "history.jsonl"
    history.write_bytes(b'\xff\xfe garbage\n{"q": 3}\n[1,2]\n{"q": "kept question"}\n{"q": \n')
    app = fake_app(seeds, index, enc, tmp_path, history_path=history)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("up")
            assert app.question_box.value == "kept question"

    run(scenario())


def test_rebuild_while_asking_uses_the_old_index_then_the_new_one(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            (seeds / "zebras.txt").write_text("Zebras migrate across the savanna every winter.\n", encoding="utf-8")
            enc.gate.clear()  # the build will wait inside its embedding step
            await pilot.press("ctrl+r")
            await until(pilot, enc.building.is_set, what="the build to start embedding")
            assert app.building and app.query_one(BuildProgress).display
            card = await ask(pilot, "When do cats hunt at dawn?")  # answered from the old index
            assert citations(card)[0] == "cats.txt:3-4"
            assert app.building
            old = await ask(pilot, "zebras migrate savanna")
            assert all(not c.startswith("zebras.txt") for c in citations(old))
            enc.gate.set()
            await until(pilot, lambda: not app.building, what="the build to finish")
            await settle(pilot)
            assert not app.query_one(BuildProgress).display
            new = await ask(pilot, "zebras migrate savanna")
            assert citations(new)[0] == "zebras.txt:1"
            assert any("new index" in m for m in notifications(app))

    try:
        run(scenario())
    finally:
        enc.gate.set()


def test_first_run_builds_the_index_with_progress_then_answers(tmp_path):
    seeds = write_small_seeds(tmp_path / "seeds")
    index = tmp_path / "indexes" / "default"
    enc = GatedEncoder()
    enc.gate.clear()
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, enc.building.is_set, what="the first build")
            assert app.query_one(BuildProgress).display
            assert any("No index yet" in n.text for n in app.log_view.notes)
            app.question_box.value = "When do cats hunt at dawn?"
            await pilot.press("enter")  # asked while the index is being built
            enc.gate.set()
            await settle(pilot)
            card = app.log_view.cards[0]
            await until(pilot, lambda: card.filled, what="the waiting question's answer")
            assert citations(card)[0] == "cats.txt:3-4"
            assert (index / "CURRENT").exists()

    try:
        run(scenario())
    finally:
        enc.gate.set()


def test_seeds_changed_since_the_build_are_reported(small, tmp_path):
    seeds, index, enc = small
    (seeds / "new.md").write_text("A new note about lighthouses.\n", encoding="utf-8")
    (seeds / "ships.md").unlink()
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            banner = app.query_one(SeedsBanner)
            assert banner.display
            text = banner.content.plain
            assert "1 added" in text and "1 removed" in text and "ctrl+r" in text
            await pilot.press("ctrl+r")
            await settle(pilot)
            assert not banner.display
            card = await ask(pilot, "lighthouses note")
            assert citations(card)[0] == "new.md:1"

    run(scenario())


def test_markup_and_emoji_in_seeds_are_shown_literally(tmp_path):
    from rag.indexing.build import build_index

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    tricky = "Tricky [bold]x[/] and [link=http://a]y[/link] with %s and %(name)s and 🎉 [/] [red] \x1b[31m end."
    (seeds / "tricky.txt").write_text(f"Intro line.\n\n{tricky}\n", encoding="utf-8")
    index = tmp_path / "indexes" / "default"
    enc = GatedEncoder()
    build_index(seeds, index, encoder=enc)
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            card = await ask(pilot, "tricky bold link [bold]emoji[/] %s")
            top = card.passages[0]
            assert str(top.hit.citation) == "tricky.txt:3"
            shown = top.render().plain
            for piece in ("[bold]x[/]", "[link=http://a]y[/link]", "%s", "%(name)s", "🎉", "[/] [red]"):
                assert piece in shown
            assert "\x1b" not in shown and "␛[31m end." in shown  # the escape is shown, not obeyed
            # the answer sentence, or (when the fake model's confidence is low) the not-found note
            shown_top = card.query(".answer-sentence") or card.query(".card-not-found")
            sentence = shown_top.first(Static).content.plain
            assert "\x1b" not in sentence
            if card.has_class("-not-found"):
                assert "not" in sentence.lower() and "document" in sentence.lower()
            else:
                assert ("␛[31m" in sentence) == ("\x1b[31m" in top.hit.answer.text)
            assert "[bold]emoji[/] %s" in app.log_view.query("QuestionMessage").first().content.plain
            app.save_screenshot(path=str(tmp_path), filename="tricky.svg")  # renders without error
            await pilot.press("tab", "enter")
            await settle(pilot)
            assert isinstance(app.screen, SourceScreen)
            view = app.screen.view
            assert view is not None and "[link=http://a]y[/link]" in view.line_text(3)
            rows = ["".join(seg.text for seg in view.render_line(y)) for y in range(view.size.height)]
            assert any("␛[31m end." in r for r in rows) and not any("\x1b" in r for r in rows)
            app.save_screenshot(path=str(tmp_path), filename="tricky-source.svg")
            await pilot.press("escape")
            assert not isinstance(app.screen, SourceScreen)

    run(scenario())


def test_hostile_file_names_and_questions_are_shown_visibly(small, tmp_path):
    """A file name or a question with escape sequences reaches the banner, the toasts, the
    question box, the log and the status bar as visible symbols, and markup in it stays text."""
    seeds, index, enc = small
    (seeds / "new\x1b]0;PWNED\x07[@click=app.quit].txt").write_text("Lighthouses note.\n", encoding="utf-8")
    app = fake_app(seeds, index, enc, tmp_path, index_label="idx\x1b[2J")

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            shown = [app.query_one(SeedsBanner).content.plain, *notifications(app)]
            shown.append(app.status_bar.query_one("#status-index").content.plain)
            assert any("new␛]0;PWNED␇[@click=app.quit].txt" in t for t in shown[:2]), shown
            assert "idx␛[2J" in shown[-1]
            assert app.is_running  # the [@click=app.quit] in the name was not run as markup
            box = app.question_box
            box.focus()
            box.value = "cats \x1b]8;;https://evil.example\x1b\\"
            await pilot.pause()
            drawn = "".join(seg.text for seg in box.render_line(0))
            assert "\x1b" not in drawn and "␛]8;;https://evil.example" in drawn
            assert box.value == "cats \x1b]8;;https://evil.example\x1b\\"  # the question itself is exact
            await pilot.press("enter")
            await settle(pilot)
            asked = app.log_view.query("QuestionMessage").last().content.plain
            assert "\x1b" not in asked and "␛]8;;https://evil.example" in asked
            assert app.exchanges[-1].question == "cats \x1b]8;;https://evil.example\x1b\\"
            app.notify("bad \x1b[2J [b]file[/b]", title="t\x07", markup=False)
            await pilot.pause()
            assert any(n.message == "bad ␛[2J [b]file[/b]" and n.title == "t␇" for n in app._notifications)
            for text in shown:
                assert "\x1b" not in text and "\x07" not in text

    run(scenario())


def test_no_seeds_folder_and_no_index_is_reported_and_the_app_keeps_running(tmp_path):
    app = fake_app(tmp_path / "missing", tmp_path / "indexes" / "default", GatedEncoder(), tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            errors = [n.text for n in app.log_view.notes if n.severity == "error"]
            assert any(e.startswith("seeds folder not found") and "create it" in e for e in errors), errors
            assert any("seeds folder not found" in m for m in notifications(app))
            titles = [n.title for n in app._notifications]
            assert "Cannot build the index" in titles  # what to do, not "Rebuild failed"
            assert "Rebuild failed" not in titles and not any("Rebuild failed" in e for e in errors)
            card = await ask(pilot, "anything at all?")
            assert "-failed" in card.classes
            assert "no index to search" in card.query_one(".card-error", Static).content.plain
            assert app.is_running

    run(scenario())


def test_corrupt_index_is_reported_then_rebuilt(small, tmp_path):
    seeds, index, enc = small
    version = index / (index / "CURRENT").read_text().strip()
    segment = json.loads((version / "manifest.json").read_text(encoding="utf-8"))["segments"][0]["id"]
    (index / "segments" / segment / "payloads.jsonl").write_text("not the passages\n", encoding="utf-8")
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            errors = [n.text for n in app.log_view.notes if n.severity == "error"]
            assert errors and "ctrl+r" in errors[0]
            card = await ask(pilot, "When do cats hunt at dawn?")
            assert "-failed" in card.classes
            await pilot.press("ctrl+r")
            await settle(pilot)
            card = await ask(pilot, "When do cats hunt at dawn?")
            assert citations(card)[0] == "cats.txt:3-4"

    run(scenario())


def test_only_stopwords_and_empty_questions(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            card = await ask(pilot, "the of and is")
            note = card.query_one(".card-note", Static).content.plain
            assert "Only common words" in note and "meaning alone" in note
            app.question_box.value = "/mode bm25"
            await pilot.press("enter")
            assert app.options.mode == "bm25"
            card = await ask(pilot, "the of and is")
            assert card.passages == []
            assert "bm25 has nothing to match" in card.query_one(".card-note", Static).content.plain
            n = len(app.exchanges)
            app.question_box.value = "   "
            await pilot.press("enter")
            await pilot.pause()
            assert len(app.exchanges) == n
            assert "Type a question first." in notifications(app)
            assert app.is_running

    run(scenario())


def test_an_unexpected_error_becomes_a_notification(small, tmp_path, monkeypatch):
    from rag.search.retriever import Retriever

    seeds, index, enc = small

    def broken_open(*_args, **_kwargs):
        raise RuntimeError("disk on fire\nsecond line of a traceback-ish message")

    monkeypatch.setattr(Retriever, "open", broken_open)
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            errors = [n.text for n in app.log_view.notes if n.severity == "error"]
            assert errors and errors[0].startswith("RuntimeError: disk on fire")
            assert "second line" not in errors[0]
            assert app.is_running

    run(scenario())


def test_failed_warm_up_and_history_writes_are_said_once_and_questions_still_answered(small, tmp_path, monkeypatch):
    """Each worker's failure reaches the part of the app that started it: a model that did not
    warm up marks the status bar, a history file that cannot be written is said once."""
    from rag.search.retriever import Retriever

    seeds, index, enc = small

    def cold_search(*args, **kwargs):  # the warm-up searches; questions are asked (Retriever.ask)
        raise RuntimeError("model weights missing")

    monkeypatch.setattr(Retriever, "search", cold_search)
    unwritable = tmp_path / "a-folder"
    unwritable.mkdir()
    app = fake_app(seeds, index, enc, tmp_path, history_path=unwritable)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            state = app.status_bar.query_one("#status-state").content.plain
            assert "Model not loaded" in state
            for question in ("When do cats hunt at dawn?", "Where are the ships in winter?"):
                card = await ask(pilot, question)
                assert card.passages  # asking does not need the warm-up
                await settle(pilot)
            titles = [n.title for n in app._notifications]
            assert titles.count("The embedding model did not load") == 1
            assert titles.count("History not saved") == 1, titles
            assert app.is_running

    run(scenario())


def test_options_screen_sets_mode_and_k_says_its_range_and_is_remembered(small, tmp_path):
    seeds, index, enc = small

    async def first():
        app = fake_app(seeds, index, enc, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("ctrl+o")
            await pilot.pause()
            assert isinstance(app.screen, SettingsScreen)
            await pilot.press("down", "enter")  # choose "dense"; the focus moves on to k
            await pilot.pause()
            await pilot.press("backspace", "9", "9")
            await pilot.pause()
            assert "1 to 50" in app.screen.query_one("#settings-k-error", Static).content.plain
            await pilot.press("enter")  # refused: still in the options
            await pilot.pause()
            assert isinstance(app.screen, SettingsScreen)
            await pilot.press("backspace", "backspace", "2")
            await pilot.pause()
            assert app.screen.query_one("#settings-k-error", Static).content.plain == ""
            await pilot.press("enter")
            await pilot.pause()
            assert not isinstance(app.screen, SettingsScreen)
            assert (app.options.mode, app.options.k) == ("dense", 2)
            assert app.status_bar.query_one("#status-settings").content.plain == "dense · k 2"
            card = await ask(pilot, "When do cats hunt at dawn?")
            assert len(card.passages) == 2 and card.border_subtitle == "dense · k 2"
            await pilot.press("ctrl+o", "escape")  # escape changes nothing
            assert (app.options.mode, app.options.k) == ("dense", 2)
            app.question_box.value = "/k 3"
            await pilot.press("enter")
            app.question_box.value = "/k lots"
            await pilot.press("enter")
            await pilot.pause()
            assert app.options.k == 3
            assert any("/k needs a whole number" in n.text for n in app.log_view.notes)
            await settle(pilot)

    async def second():  # the next start has the options chosen last
        app = fake_app(seeds, index, enc, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert (app.options.mode, app.options.k) == ("dense", 3)
            assert app.status_bar.query_one("#status-settings").content.plain == "dense · k 3"

    run(first())
    run(second())


def test_passage_navigation_copy_and_export(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await ask(pilot, "How many ships in winter?")
            card = await ask(pilot, "When do cats hunt at dawn?")
            old = app.log_view.cards[0]
            assert all(not p.focusable for p in old.passages)  # only the last answer takes the focus
            await pilot.press("tab")
            assert app.focused is card.passages[0]
            await pilot.press("down")
            assert app.focused is card.passages[1]
            await pilot.press("ctrl+y")
            hit = card.passages[1].hit
            assert app.clipboard.startswith("> ")
            assert app.clipboard.rstrip().endswith(f"> — `{hit.citation}`")
            await pilot.press("up", "up")  # past the first passage: back to the question box
            assert app.focused is app.question_box
            await pilot.press("ctrl+s")
            await settle(pilot)
            files = list((tmp_path / "exports").glob("rag-conversation-*.md"))
            assert len(files) == 1
            text = files[0].read_text(encoding="utf-8")
            assert "## 1. How many ships in winter?" in text and "## 2. When do cats hunt at dawn?" in text
            assert "`cats.txt:3-4`" in text and "`ships.md:3`" in text
            assert any("Saved to" in m for m in notifications(app))

    run(scenario())


def test_source_of_a_vanished_file_is_a_notification(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await ask(pilot, "When do cats hunt at dawn?")
            (seeds / "cats.txt").unlink()
            await pilot.press("tab", "enter")
            await settle(pilot)
            assert not isinstance(app.screen, SourceScreen)
            assert any("cannot open cats.txt" in m for m in notifications(app))
            assert isinstance(app.focused, PassageView) or app.focused is app.question_box

    run(scenario())


def test_source_view_warns_when_the_file_changed(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await ask(pilot, "When do cats hunt at dawn?")
            (seeds / "cats.txt").write_text("Dogs\n\nSomething else entirely.\n", encoding="utf-8")
            await pilot.press("tab", "enter")
            await settle(pilot)
            assert isinstance(app.screen, SourceScreen)
            assert "changed since the index was built" in app.screen.query_one("#source-loading", Static).content.plain

    run(scenario())


def test_export_with_nothing_asked_says_so(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("ctrl+s", "ctrl+y")
            await pilot.pause()
            assert any("Nothing to export" in m for m in notifications(app))
            assert any("Nothing to copy" in m for m in notifications(app))
            assert not (tmp_path / "exports").exists()

    run(scenario())


def test_command_palette_offers_the_app_commands(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            titles = [c.title for c in app.get_system_commands(app.screen)]
            for title in ("Rebuild index", "Export conversation", "Copy passage", "Open source", "Options", "Mode: bm25"):
                assert title in titles
            await run_command(pilot, "Mode: bm25")
            await settle(pilot)
            assert app.options.mode == "bm25"
            assert app.status_bar.query_one("#status-settings").content.plain == "bm25 · k 5"

    run(scenario())


def test_watch_mode_updates_the_index_after_a_burst_of_saves(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path, watch=True)
    updates = []

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            watch = app.status_bar.query_one("#status-watch")
            await until(pilot, lambda: watch.content.plain == "watching seeds/", what="the watch on the status line")
            first = app.retriever
            for i in range(4):  # a burst of saves
                (seeds / "zebras.txt").write_text("Zebras migrate across the savanna. " * (i + 1) + "\n", encoding="utf-8")
                await pilot.pause(0.05)
            await until(pilot, lambda: app.retriever is not first and not app.building, timeout=60,
                        what="the watched change to be indexed")
            await settle(pilot)
            card = await ask(pilot, "zebras migrate savanna")
            assert citations(card)[0] == "zebras.txt:1"
            assert any("indexed 3 files" in m for m in notifications(app)), notifications(app)
            updates.append(app.index.service.status()["update"]["updates"])

    run(scenario())
    assert updates == [1]  # one update for the whole burst (none when the watch started)


def test_the_status_line_says_when_the_watched_folder_is_gone(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path, watch=True)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            watch = app.status_bar.query_one("#status-watch")
            await until(pilot, lambda: watch.content.plain == "watching seeds/", what="watching")
            moved = seeds.rename(tmp_path / "elsewhere")
            await until(pilot, lambda: watch.content.plain == "seeds/ is gone: waiting for it", what="waiting")
            assert watch.has_class("-busy")
            moved.rename(seeds)
            await until(pilot, lambda: watch.content.plain == "watching seeds/", what="watching again")
            assert watch.has_class("-ready") and app.is_running
            # the update the watch starts when the folder is back ends before the app closes
            await until(pilot, lambda: not app.building and app.index.service.status()["update"]["state"] == "idle",
                        timeout=60, what="the update after the folder came back")

    run(scenario())
