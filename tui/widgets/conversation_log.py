"""The conversation: questions, answer cards and the app's notes, newest at the bottom."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widget import Widget

from ..transcript import Exchange
from .answer_card import AnswerCard
from .log_note import LogNote, Severity
from .question_message import QuestionMessage
from .welcome import Welcome


class ConversationLog(VerticalScroll, can_focus=False):
    """Scrolls by itself; the passages inside it take the focus, not the log."""

    def __init__(self, welcome: Welcome, *, id: str | None = None) -> None:
        super().__init__(welcome, id=id)

    async def add_exchange(self, exchange: Exchange) -> AnswerCard:
        await self._drop_welcome()
        question = QuestionMessage(exchange.question)
        card = AnswerCard(exchange)
        card.id = f"answer-{exchange.id}"
        await self.mount_all([question, card])
        self.show_top_of(question)
        return card

    async def add_note(self, text: str, severity: Severity = "information") -> LogNote:
        await self._drop_welcome()
        note = LogNote(text, severity)
        await self.mount(note)
        self.call_after_refresh(self.scroll_end, animate=False)
        return note

    def card(self, exchange_id: int) -> AnswerCard | None:
        found = self.query(f"#answer-{exchange_id}")
        return found.first(AnswerCard) if found else None

    @property
    def cards(self) -> list[AnswerCard]:
        return list(self.query(AnswerCard))

    @property
    def notes(self) -> list[LogNote]:
        return list(self.query(LogNote))

    def reveal(self, card: AnswerCard) -> None:
        """Scroll so that the card's question sits at the top, its answer below."""
        siblings = list(self.children)
        i = siblings.index(card) if card in siblings else 0
        self.show_top_of(siblings[i - 1] if i > 0 and isinstance(siblings[i - 1], QuestionMessage) else card)

    def show_top_of(self, widget: Widget) -> None:
        """Scroll so that ``widget`` (a question) sits at the top, with its answer below it."""
        self.call_after_refresh(self.scroll_to_widget, widget, top=True, animate=False, force=True)

    async def _drop_welcome(self) -> None:
        for w in self.query(Welcome):
            await w.remove()
