"""The rebuild's progress bar, shown above the status line while a build runs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Label, ProgressBar

from rag.terminal_text import terminal_line

STAGES = {
    "reading": "Reading documents",
    "embedding": "Embedding passages",
    "writing": "Writing the index",
    "exporting": "Preparing the fast query encoder (once)",
}


class BuildProgress(Horizontal):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.display = False

    def compose(self) -> ComposeResult:
        yield Label(Content("Rebuilding"), id="build-label")
        yield ProgressBar(total=None, show_eta=False, id="build-bar")

    def start(self, title: str) -> None:
        self.query_one("#build-label", Label).update(Content(terminal_line(title)))
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.display = True

    def advance(self, stage: str, done: int, total: int) -> None:
        what = STAGES.get(stage, stage)
        self.query_one("#build-label", Label).update(Content(terminal_line(f"{what} {done}/{total}" if total > 1 else what)))
        self.query_one(ProgressBar).update(total=max(total, 1), progress=min(done, max(total, 1)))

    def finish(self) -> None:
        self.display = False
