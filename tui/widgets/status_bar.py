"""The status line: what the app is doing, what the index holds, and the search settings."""

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
        yield Label(Content(""), id="status-settings")

    def set_state(self, text: str, state: State = "busy") -> None:
        label = self.query_one("#status-state", Label)
        label.update(Content(f"{_ICON[state]} {terminal_line(text)}"))
        for s in _ICON:
            label.set_class(s == state, f"-{s}")

    def set_index(self, text: str) -> None:
        self.query_one("#status-index", Label).update(Content(terminal_line(text)))

    def set_settings(self, mode: str, k: int) -> None:
        self.query_one("#status-settings", Label).update(Content(terminal_line(f"{mode} · k {k}")))
