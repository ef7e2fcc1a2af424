"""Pilot tests of what a new user met in the app (issue 9, items 6 and 13), on the fake encoder."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey
from textual.widgets._toast import Toast
from tui_support import (
    ROOT,
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
)

from tui.transcript import quote_markdown
from tui.widgets.build_progress import BuildProgress
from tui.widgets.passage_view import PassageView
from tui.widgets.source_screen import SourceScreen

# Each scenario drives the whole Textual app (about a second of CPU each): the full run has them;
# `make test-fast` keeps the UI's units and a few pilot scenarios (test_tui_confidence, _followup,
# _logview, _pdf) to stay under a minute.
pytestmark = pytest.mark.slow


def notes(app) -> list[str]:
    return [n.text for n in app.log_view.notes]


def build_outside(seeds: Path, index: Path) -> None:
    """What `rag index` in another shell does (same fake model as the app's)."""
    from rag.indexing.build import build_index

    (seeds / "zebras.txt").write_text("Zebras migrate across the savanna every winter.\n", encoding="utf-8")
    build_index(seeds, index, encoder=GatedEncoder())


# ----------------------------------------------------------------- item 6: versions built outside the app
def test_ctrl_r_switches_to_a_version_built_in_another_shell(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            old_version = app.retriever.version_dir
            build_outside(seeds, index)
            await pilot.press("ctrl+r")  # nothing left to build: the outside version is opened
            await settle(pilot)
            assert app.retriever.version_dir != old_version
            assert any(t.startswith("Switched to the index built at") and "3 files" in t for t in notes(app)), notes(app)
            card = await ask(pilot, "zebras migrate savanna")
            assert citations(card)[0] == "zebras.txt:1"

    run(scenario())


def test_a_question_switches_to_a_version_built_in_another_shell(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            build_outside(seeds, index)
            card = await ask(pilot, "zebras migrate savanna")  # checked before searching: answered from the new one
            assert citations(card)[0] == "zebras.txt:1"
            await settle(pilot)
            assert sum(t.startswith("Switched to the index built at") for t in notes(app)) == 1
            assert app.retriever.is_current()

    run(scenario())


# ----------------------------------------------------------------- item 13: keys
def test_typing_on_a_passage_goes_to_the_question_box_and_tab_returns(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            card = await ask(pilot, "When do cats hunt at dawn?")
            await pilot.press("tab")
            assert app.focused is card.passages[0]
            keys = {(k.key_display, k.description) for k in app.query_one(Footer).query(FooterKey)}
            assert ("esc/tab", "Question") in keys and ("^q", "Quit") in keys, keys
            await pilot.press("w", "h", "o")  # typed on a passage: goes on in the question box
            assert app.focused is app.question_box and app.question_box.value == "who"
            await pilot.press("tab")
            assert isinstance(app.focused, PassageView)
            await pilot.press("tab")
            assert app.focused is app.question_box
            await pilot.press("tab", "down", "shift+tab")
            assert app.focused is app.question_box
            keys = {(k.key_display, k.description) for k in app.query_one(Footer).query(FooterKey)}
            assert ("^q", "Quit") in keys, keys
            app.question_box.value = "/help"
            await pilot.press("enter")
            await pilot.pause()
            assert "ctrl+q quits" in notes(app)[-1] and "tab" in notes(app)[-1]

    run(scenario())


# ----------------------------------------------------------------- item 13: copying
def test_copy_without_a_clipboard_tool_says_where_the_quote_is(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path, clipboard_commands=[])

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            card = await ask(pilot, "When do cats hunt at dawn?")
            await pilot.press("ctrl+y")
            await settle(pilot)
            said = [m for m in notifications(app) if "passage 1" in m]
            assert said and "Copied" not in said[-1], notifications(app)
            assert "terminal clipboard (OSC 52)" in said[-1] and "copied-passage.md" in said[-1]
            assert (index / "copied-passage.md").read_text(encoding="utf-8") == quote_markdown(card.passages[0].hit)

    run(scenario())


def test_copy_uses_a_system_clipboard_tool_when_there_is_one(small, tmp_path):
    seeds, index, enc = small
    got = tmp_path / "clipboard.txt"
    tool = tmp_path / "fakeclip"
    tool.write_text(f"#!/bin/sh\ncat > '{got}'\n", encoding="utf-8")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    app = fake_app(seeds, index, enc, tmp_path, clipboard_commands=[(str(tool),)])

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            card = await ask(pilot, "When do cats hunt at dawn?")
            await pilot.press("tab", "down", "ctrl+y")
            await settle(pilot)
            assert got.read_text(encoding="utf-8") == quote_markdown(card.passages[1].hit)
            assert any("Copied passage 2" in m and "with fakeclip" in m for m in notifications(app)), notifications(app)
            assert not (index / "copied-passage.md").exists()

    run(scenario())


# ----------------------------------------------------------------- item 13: toasts and paths
def test_notifications_leave_the_status_bar_visible(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await settle(pilot)
            app.notify("A long notification that would cover the search settings of the status line. " * 2)
            await until(pilot, lambda: any(t.region.area for t in app.screen.query(Toast)), what="the toast")
            toasts = list(app.screen.query(Toast))
            settings = app.status_bar.query_one("#status-settings").region
            for t in toasts:
                assert not t.region.overlaps(settings), (t.region, settings)

    run(scenario())


# ----------------------------------------------------------------- item 13: screenshots
def test_screenshot_from_the_palette_without_a_downloads_folder(small, tmp_path, monkeypatch):
    import platformdirs

    seeds, index, enc = small
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setattr(platformdirs, "user_downloads_path", lambda: tmp_path / "no-downloads")
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await run_command(pilot, "Screenshot")
            await until(pilot, lambda: list(here.glob("*.svg")), what="the screenshot file")
            await until(pilot, lambda: any("Saved screenshot" in m for m in notifications(app)), what="the note")
            saved = [m for m in notifications(app) if "Saved screenshot" in m][-1]
            assert str(here) in saved
            assert not (tmp_path / "no-downloads").exists()

    run(scenario())


# ----------------------------------------------------------------- item 13: build progress
def test_build_progress_names_the_query_encoder_export(small, tmp_path):
    import threading

    from rag.types import BuildStats

    seeds, index, enc = small
    gate = threading.Event()

    def exporting_build(seeds, index, progress, **_options):
        progress("writing", 1, 1)
        progress("exporting", 0, 1)
        gate.wait(30)
        progress("exporting", 1, 1)
        return BuildStats(changed=False, files=2, passages=4)

    app = fake_app(seeds, index, enc, tmp_path, build=exporting_build)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("ctrl+r")
            label = app.query_one("#build-label")
            await until(pilot, lambda: "fast query encoder" in label.content.plain, what="the export stage")
            assert label.content.plain == "Preparing the fast query encoder (once)"
            assert app.query_one(BuildProgress).display
            gate.set()
            await settle(pilot)

    try:
        run(scenario())
    finally:
        gate.set()


# ----------------------------------------------------------------- item 13: the source view after a rebuild
def test_source_view_follows_a_rebuild_and_counts_lines(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await ask(pilot, "When do cats hunt at dawn?")
            await pilot.press("tab", "enter")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, SourceScreen) and screen.view.cited == (3, 4)
            assert "6 lines" in screen.query_one("#source-title", Static).content.plain  # ends with a newline
            text = (seeds / "cats.txt").read_text(encoding="utf-8")
            (seeds / "cats.txt").write_text("Preface.\n\n" + text, encoding="utf-8")
            await pilot.press("ctrl+r")
            await settle(pilot)
            assert app.screen is screen
            await until(pilot, lambda: screen.view is not None and screen.view.cited == (5, 6), what="the new lines")
            assert "8 lines" in screen.query_one("#source-title", Static).content.plain
            assert not screen.query("#source-loading")  # no "changed … Rebuild with ctrl+r" warning
            assert screen.view.line_text(5) == "Cats sleep for most of the day."

    run(scenario())


# ----------------------------------------------------------------- item 13: exports
def test_exports_go_to_the_index_folder_and_are_git_ignored(small, tmp_path, monkeypatch):
    seeds, index, enc = small
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    app = fake_app(seeds, index, enc, tmp_path, export_dir=None)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await ask(pilot, "When do cats hunt at dawn?")
            await pilot.press("ctrl+s")
            await settle(pilot)
            files = list((index / "exports").glob("rag-conversation-*.md"))
            assert len(files) == 1 and not list(here.iterdir())
            assert any(t.startswith("Conversation exported to") and files[0].name in t for t in notes(app))

    run(scenario())
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert "rag-conversation-*.md" in ignored


# ----------------------------------------------------------------- snapshots: no float noise
def test_scores_can_be_hidden_for_pictures(small, tmp_path):
    seeds, index, enc = small

    async def shown(show: bool) -> str:
        app = fake_app(seeds, index, enc, tmp_path, show_scores=show)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            card = await ask(pilot, "When do cats hunt at dawn?")
            return str(card.border_title) + "\n" + card.passages[0].render().plain

    with_scores, without = [], []

    async def both():
        with_scores.append(await shown(True))
        without.append(await shown(False))

    run(both())
    assert "confidence 0." in with_scores[0] or "confidence 1." in with_scores[0]  # the card's one confidence
    assert "confidence" not in without[0] and "score" not in without[0] and "¶" in without[0]
