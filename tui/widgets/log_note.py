"""A line from the app in the conversation log: a remark, a warning or an error."""

from __future__ import annotations

from typing import Literal

from textual.content import Content
from textual.widgets import Static

from rag.terminal_text import terminal_safe

Severity = Literal["information", "warning", "error"]
_ICON = {"information": "ℹ", "warning": "⚠", "error": "✖"}


class LogNote(Static):
    def __init__(self, text: str, severity: Severity = "information") -> None:
        super().__init__(Content(f"{_ICON[severity]}  {terminal_safe(text)}"), classes=f"-{severity}")
        self.text = text
        self.severity = severity
