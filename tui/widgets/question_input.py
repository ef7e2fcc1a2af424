"""The question box: Enter asks, up/down walk the questions asked before (kept across runs)."""

from __future__ import annotations

from rich.highlighter import Highlighter
from rich.text import Text
from textual.binding import Binding
from textual.widgets import Input

from rag.terminal_text import terminal_line


class VisibleControls(Highlighter):
    """Shows a pasted or recalled question's control characters as visible symbols (one each, so
    the cursor stays where it is); the question itself keeps its exact text."""

    def highlight(self, text: Text) -> None:
        text.plain = terminal_line(text.plain)


class QuestionInput(Input):
    """An input with a shell-like history: up recalls older questions, down newer ones."""

    BINDINGS = [
        Binding("enter", "submit", "Ask", tooltip="Search the index for this question"),
        Binding("up", "history_previous", "History", tooltip="Recall the previous question"),
        Binding("down", "history_next", "Next question", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        # No select-all on focus: a letter typed on a passage comes here and the next ones must follow it.
        super().__init__(
            placeholder="Ask a question about your documents…  (/help for commands)",
            highlighter=VisibleControls(),
            id=id,
            select_on_focus=False,
        )
        self._history: list[str] = []
        self._pos: int | None = None  # index into _history while walking it
        self._draft = ""

    def set_history(self, questions: list[str]) -> None:
        """Questions loaded from disk go before the ones asked in this run."""
        asked = self._history
        self._history = list(questions)
        for q in asked:
            self._append(q)
        self._pos = None

    def remember(self, question: str) -> None:
        self._append(question)
        self._pos = None
        self._draft = ""

    def _append(self, question: str) -> None:
        if question and (not self._history or self._history[-1] != question):
            self._history.append(question)

    def action_history_previous(self) -> None:
        if not self._history:
            return
        if self._pos is None:
            self._draft = self.value
            self._pos = len(self._history)
        if self._pos > 0:
            self._pos -= 1
            self._show(self._history[self._pos])

    def action_history_next(self) -> None:
        if self._pos is None:
            return
        self._pos += 1
        if self._pos >= len(self._history):
            self._pos = None
            self._show(self._draft)
        else:
            self._show(self._history[self._pos])

    def _show(self, text: str) -> None:
        self.value = text
        self.cursor_position = len(text)
