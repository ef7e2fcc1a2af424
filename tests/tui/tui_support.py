"""Helpers and fixtures shared by the UI tests (imported by the test modules).

The fixtures here give small seeds folders indexed with the deterministic fake encoder (fast);
the real seed article index comes from the session fixture ``real_index`` of tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import threading
from pathlib import Path

import pytest
from textual.worker import WorkerFailed

ROOT = Path(__file__).resolve().parents[2]
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # `tui` is the app package, not this tests/tui folder

from fakes import FakeEncoder  # noqa: E402

from tui.app import RagApp, make_app  # noqa: E402
from tui.widgets.answer_card import AnswerCard  # noqa: E402

SEED_NAME = "000_696ac6e15c916e66.txt"
SIZE = (100, 32)


class GatedEncoder(FakeEncoder):
    """The fake encoder, but a build's embedding waits for ``gate`` (questions never wait)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.building = threading.Event()

    def encode(self, texts, progress=None, cancel=None):
        if progress is not None:  # only builds report progress
            self.building.set()
            self.gate.wait(30)
        return super().encode(texts, progress=progress, cancel=cancel)


def write_small_seeds(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cats.txt").write_text(
        "All about cats.\n\nCats sleep for most of the day.\nThey hunt at dawn and dusk.\n\nA cat purrs when content.\n",
        encoding="utf-8",
    )
    (folder / "ships.md").write_text(
        "# Ships\n\nThe harbour holds forty ships in winter.\n\nSailors repair the hulls in spring.\n",
        encoding="utf-8",
    )
    return folder


@pytest.fixture
def small(tmp_path: Path):
    """(seeds, index, encoder): two small documents indexed with the fake encoder."""
    from rag.indexing.build import build_index

    seeds = write_small_seeds(tmp_path / "seeds")
    index = tmp_path / "indexes" / "default"
    encoder = GatedEncoder()
    build_index(seeds, index, encoder=encoder)
    return seeds, index, encoder


def fake_app(seeds: Path, index: Path, encoder, tmp_path: Path, **options) -> RagApp:
    options.setdefault("history_path", tmp_path / "history.jsonl")
    options.setdefault("export_dir", tmp_path / "exports")
    options.setdefault("index_label", "indexes/default")
    options.setdefault("seeds_label", "seeds/")
    options.setdefault("cursor_blink", False)
    return make_app(index, seeds, encoder=encoder, **options)


def real_app(real_index: Path, **options) -> RagApp:
    """The app on the session's real index of the seed article, with fixed labels for pictures."""
    options.setdefault("history_path", None)
    options.setdefault("index_label", "indexes/default")
    options.setdefault("seeds_label", "seeds/")
    options.setdefault("cursor_blink", False)
    return make_app(real_index, real_index.parent.parent / "seeds", **options)


def copy_real_seeds(real_index: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    shutil.copy(real_index.parent.parent / "seeds" / SEED_NAME, dest / SEED_NAME)
    return dest


def run(coro) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=120))


async def settle(pilot, timeout: float = 60.0) -> None:
    """Wait until no worker and no build runs (the live index builds in its own thread) and the
    message queues are drained (workers start workers)."""
    app = pilot.app
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet = 0
    while quiet < 2:
        try:
            await app.workers.wait_for_complete()
        except WorkerFailed:
            pass  # the app turns failures into notifications; tests look at those
        await pilot.pause()
        busy = app.building or any(not w.is_finished for w in app.workers)
        quiet = 0 if busy else quiet + 1
        if loop.time() > deadline:
            raise TimeoutError("the app did not settle")


async def until(pilot, predicate, timeout: float = 30.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def run_command(pilot, name: str) -> None:
    """Open the command palette, type ``name``, wait until the palette highlights that command
    (its search runs in the background) and run it with Enter."""
    from textual.command import CommandList, CommandPalette

    app = pilot.app
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the command palette")
    await pilot.press(*name)

    def offered() -> bool:
        commands = app.screen.query_one(CommandList)
        if commands.highlighted is None:
            return False
        prompt = commands.get_option_at_index(commands.highlighted).prompt
        return name in getattr(prompt, "plain", str(prompt))

    await until(pilot, offered, what=f"the palette to offer {name!r}")
    await pilot.press("enter")


async def ask(pilot, question: str) -> AnswerCard:
    """Type the question, press Enter and wait for its answer card to be filled."""
    app = pilot.app
    box = app.question_box
    box.focus()
    box.value = question
    await pilot.press("enter")
    await pilot.pause()
    ex = app.exchanges[-1]
    card = app.log_view.card(ex.id)
    assert card is not None
    await until(pilot, lambda: card.filled, what=f"an answer to {question!r}")
    await pilot.pause()
    return card


def notifications(app) -> list[str]:
    return [n.message for n in app._notifications]


def citations(card: AnswerCard) -> list[str]:
    return [str(p.hit.citation) for p in card.passages]
