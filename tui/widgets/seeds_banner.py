"""A one-line banner under the header: the seeds changed since the index was built."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from rag.terminal_text import terminal_line


class SeedsBanner(Static):
    """Hidden until there is something to say; ctrl+r rebuilds."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Content(""), id=id)
        self.display = False

    def show(self, text: str) -> None:
        self.update(Content(terminal_line(text)))
        self.display = True

    def hide(self) -> None:
        self.display = False
