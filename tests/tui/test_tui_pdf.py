"""A PDF citation in the UI: the source view shows the cited page's text with the cited lines
highlighted and the page in the title; `o` opens the original in the system viewer at that page,
or says plainly that there is none (the opener is faked: nothing is started)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from textual.widgets import Static
from tui_support import SIZE, GatedEncoder, ask, citations, fake_app, notifications, run, settle, until, write_small_seeds

import pdfs
from tui import viewer
from tui.widgets.source_screen import SourceScreen

PAGES = [
    ["Lighthouses guide ships along rocky coasts.", "Their lamps turn through the night."],
    ["Volcanoes erupt when magma rises through the crust.", "Ash clouds can ground aircraft for days."],
    ["Honeybees dance to tell the hive where flowers are.", "The waggle dance points toward the nectar."],
]


@pytest.fixture
def with_pdf(tmp_path):
    from rag.indexing.build import build_index

    seeds = write_small_seeds(tmp_path / "seeds")
    pdfs.write(seeds / "nature.pdf", pdfs.paper([[lines] for lines in PAGES], header="Field Notes", page_numbers=True))
    index = tmp_path / "indexes" / "default"
    encoder = GatedEncoder()
    build_index(seeds, index, encoder=encoder)
    return seeds, index, encoder


def fake_tool(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / name
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    return exe


@pytest.mark.skipif(sys.platform != "linux", reason="the viewers looked for are the Linux ones")
def test_pdf_source_view_shows_the_page_and_o_opens_it_at_that_page(with_pdf, tmp_path, monkeypatch):
    seeds, index, enc = with_pdf
    started: list[list[str]] = []
    monkeypatch.setattr(viewer, "launch", started.append)
    bin_dir = tmp_path / "bin"
    zathura = fake_tool(bin_dir, "zathura")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("DISPLAY", ":0")
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            card = await ask(pilot, "Which dance do honeybees do to show the nectar?")
            assert citations(card)[0] == "nature.pdf:p3:1-2"
            await pilot.press("tab", "enter")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, SourceScreen)
            await until(pilot, lambda: screen.view is not None and screen.view.at_citation, what="source view")
            assert "page 3, lines 1-2" in screen.query_one("#source-title", Static).content.plain
            view = screen.view
            assert view.highlighted_lines == [1, 2]
            assert [view.line_text(n) for n in (1, 2)] == PAGES[2]  # the page's text, not the file's bytes
            await pilot.press("o")
            await until(pilot, lambda: any("Opened" in m for m in notifications(app)), what="the message")
            assert started == [[str(zathura), "--page=3", str(seeds / "nature.pdf")]]
            assert "Opened nature.pdf at page 3 with zathura" in notifications(app)

            # no display, no opener: a message, nothing started, the screen stays
            monkeypatch.setenv("PATH", str(tmp_path / "empty"))
            monkeypatch.delenv("DISPLAY")
            monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
            await pilot.press("o")
            await until(pilot, lambda: any("No viewer" in m for m in notifications(app)), what="no viewer")
            assert len(started) == 1 and isinstance(app.screen, SourceScreen)

    run(scenario())


@pytest.mark.skipif(sys.platform != "linux", reason="xdg-open is the Linux opener")
def test_without_a_page_viewer_xdg_open_opens_the_file_and_names_the_page(tmp_path, monkeypatch):
    started: list[list[str]] = []
    monkeypatch.setattr(viewer, "launch", started.append)
    xdg = fake_tool(tmp_path / "bin", "xdg-open")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("DISPLAY", ":0")
    doc = pdfs.write(tmp_path / "a.pdf", b"%PDF-1.4")
    assert viewer.open_file(doc, "a.pdf", 7) == "Opened a.pdf with xdg-open; go to page 7"
    assert started == [[str(xdg), str(doc)]]
    assert viewer.open_file(tmp_path / "gone.pdf", "gone.pdf", 1) == "Cannot open gone.pdf: the file is gone"
    assert len(started) == 1


def test_a_viewer_that_cannot_start_is_a_message(tmp_path, monkeypatch):
    def broken(command):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(viewer, "launch", broken)
    monkeypatch.setattr(viewer, "viewer_command", lambda path, page: (["/usr/bin/evince", str(path)], True))
    monkeypatch.setattr(sys, "platform", "linux")
    doc = pdfs.write(tmp_path / "a.pdf", b"%PDF-1.4")
    assert viewer.open_file(doc, "a.pdf", 2) == "Cannot start evince for a.pdf: Permission denied"
