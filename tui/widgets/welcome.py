"""What the empty conversation shows: what to do and the keys to do it."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from rag.terminal_text import terminal_line

KEYS = [
    ("enter", "ask the question"),
    ("↑ ↓", "walk the questions asked before"),
    ("tab", "move to the passages of the answer, ↑ ↓ between them; tab, esc back"),
    ("enter", "on a passage: open the file at the cited lines"),
    ("ctrl+y", "copy the passage as a Markdown quote"),
    ("ctrl+o", "options: search mode and number of passages"),
    ("ctrl+r", "rebuild the index after changing the documents"),
    ("ctrl+s", "export the conversation to Markdown"),
    ("ctrl+q", "quit"),
]


class Welcome(Static):
    COMPONENT_CLASSES = {"welcome--title", "welcome--key"}

    def __init__(self, seeds_label: str, index_label: str) -> None:
        lines: list = [
            ("Ask your documents", ".welcome--title"),
            "\n",
            f"Questions are answered from the files in {terminal_line(seeds_label)}, with the file and line of every "
            f"passage (index: {terminal_line(index_label)}).",
            "\n\n",
        ]
        for key, what in KEYS:
            lines += [(f"{key:>7}", ".welcome--key"), f"  {what}\n"]
        super().__init__(Content.assemble(*lines).rstrip())
