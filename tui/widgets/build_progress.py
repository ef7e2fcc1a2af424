"""The rebuild's progress bar, shown above the status line while a build runs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import Label, ProgressBar

from rag.terminal_text import terminal_line

STAGES = {
    "reading": "Reading documents",
    "embedding": "Embedding passages",
    "writing": "Writing the index",
    "exporting": "Preparing the fast query encoder (once)",
}


class BuildProgress(Horizontal):
    """A build's progress may arrive before this widget's label and bar are mounted (the first
    build starts as the app opens): the latest state is kept and shown once they are."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.display = False
        self._state: tuple[str, int | None, int] = ("Rebuilding", None, 0)  # label, total, progress

    def compose(self) -> ComposeResult:
        yield Label(Content("Rebuilding"), id="build-label")
        yield ProgressBar(total=None, show_eta=False, id="build-bar")

    def on_mount(self) -> None:
        self._show()

    def start(self, title: str) -> None:
        self._state = (terminal_line(title), None, 0)
        self._show()
        self.display = True

    def advance(self, stage: str, done: int, total: int) -> None:
        what = STAGES.get(stage, stage)
        self._state = (terminal_line(f"{what} {done}/{total}" if total > 1 else what), max(total, 1), min(done, max(total, 1)))
        self._show()

    def _show(self) -> None:
        try:
            label, bar = self.query_one("#build-label", Label), self.query_one(ProgressBar)
        except NoMatches:  # not composed yet: on_mount shows the state
            return
        text, total, progress = self._state
        label.update(Content(text))
        bar.update(total=total, progress=progress)

    def finish(self) -> None:
        self.display = False
