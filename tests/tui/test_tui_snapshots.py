"""SVG snapshots of the app on the real seed article index (fixed size, no cursor blink, fixed labels).

Scores are hidden (``show_scores=False``) so that float noise across CPUs cannot change a picture;
saved options are neither read nor written, so the pictures do not depend on earlier runs.

Update after an intended change of the picture: ``pytest tests/tui/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import pytest
from conftest import PARTICIPANTS_Q
from tui_support import ask, real_app, settle, until

pytestmark = pytest.mark.e2e


def picture_app(real_index):
    return real_app(real_index, show_scores=False, remember_settings=False)


def test_empty_app(snap_compare, real_index):
    assert snap_compare(picture_app(real_index), terminal_size=(80, 24), run_before=settle)


async def _answered(pilot) -> None:
    await settle(pilot)
    await ask(pilot, PARTICIPANTS_Q)
    await settle(pilot)


def test_answered_question(snap_compare, real_index):
    assert snap_compare(picture_app(real_index), terminal_size=(80, 24), run_before=_answered)


def test_answered_question_wide(snap_compare, real_index):
    assert snap_compare(picture_app(real_index), terminal_size=(132, 40), run_before=_answered)


def test_source_view(snap_compare, real_index):
    async def open_source(pilot) -> None:
        await _answered(pilot)
        await pilot.press("tab", "enter")
        await settle(pilot)
        await until(pilot, lambda: getattr(pilot.app.screen, "view", None) is not None and pilot.app.screen.view.at_citation)
        await pilot.pause()

    assert snap_compare(picture_app(real_index), terminal_size=(100, 30), run_before=open_source)
