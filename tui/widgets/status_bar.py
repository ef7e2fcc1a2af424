"""The status line: what the app is doing, what the index holds, the watch of the seeds folder, and
the search settings."""

from __future__ import annotations

from typing import Literal

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Label

from rag.terminal_text import terminal_line

State = Literal["busy", "ready", "error"]
_ICON = {"busy": "◌", "ready": "●", "error": "✖"}


class StatusBar(Horizontal):
    def compose(self) -> ComposeResult:
        yield Label(Content(""), id="status-state")
        yield Label(Content(""), id="status-index")
        watch = Label(Content(""), id="status-watch")
        watch.display = False  # shown once the seeds folder is watched
        yield watch
        yield Label(Content(""), id="status-settings")

    def set_state(self, text: str, state: State = "busy") -> None:
        _show(self.query_one("#status-state", Label), f"{_ICON[state]} {terminal_line(text)}", state)

    def set_watch(self, text: str, state: State = "ready") -> None:
        """The watch of the seeds folder ("" hides it)."""
        label = self.query_one("#status-watch", Label)
        label.display = bool(text)
        _show(label, terminal_line(text), state)

    def set_index(self, text: str) -> None:
        self.query_one("#status-index", Label).update(Content(terminal_line(text)))

    def set_settings(self, mode: str, k: int) -> None:
        self.query_one("#status-settings", Label).update(Content(terminal_line(f"{mode} · k {k}")))


def _show(label: Label, text: str, state: State) -> None:
    label.update(Content(text))
    for s in _ICON:
        label.set_class(s == state, f"-{s}")
