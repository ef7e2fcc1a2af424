"""A question as it appears in the conversation log (the user's message)."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from rag.terminal_text import terminal_safe


class QuestionMessage(Static):
    """The question, shown literally (it may contain brackets or anything else)."""

    COMPONENT_CLASSES = {"question--who"}

    def __init__(self, question: str) -> None:
        super().__init__(Content.assemble(("You  ", ".question--who"), terminal_safe(question)))
