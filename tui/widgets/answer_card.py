"""The answer to one question: the answer sentence with its citation, then the ranked passages."""

from __future__ import annotations

from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from rag.search.verdict import verdict, verdict_line
from rag.terminal_text import terminal_line, terminal_safe

from ..highlight import Marks
from ..transcript import Exchange, answer_citation
from .passage_view import PassageView


NOT_FOUND = "Your documents do not seem to answer this question. The nearest passages:"
WEAK = "The best passage is related but may not answer this question:"


def answer_text(exchange: Exchange) -> Content | None:
    """The top passage's answer sentence, matched words marked, followed by its citation."""
    if not exchange.hits:
        return None
    top = exchange.hits[0]
    if top.answer is None:
        return None
    marks = exchange.marks[0] if exchange.marks else Marks()
    sentence = Content(terminal_safe(top.answer.text))
    for s, e in marks.in_answer():
        sentence = sentence.stylize(".answer--match", s, e)
    return Content.assemble(
        sentence.stylize(".answer--sentence"),
        "\n",
        ("— ", ".answer--dash"),
        (terminal_line(answer_citation(top)), ".answer--citation"),
    )


class AnswerCard(Vertical):
    """A card in the conversation log; it starts pending and is filled when the search completes."""

    COMPONENT_CLASSES = {"answer--sentence", "answer--match", "answer--citation", "answer--dash"}

    def __init__(self, exchange: Exchange) -> None:
        super().__init__(classes="-pending")
        self.exchange = exchange
        self.filled = False  # True once the result or the error is on screen
        self.border_title = "Answer"
        self.border_subtitle = f"{exchange.mode} · k {exchange.k}"

    def compose(self):
        yield Static(Content("Searching…"), classes="card-status")

    @property
    def passages(self) -> list[PassageView]:
        return list(self.query(PassageView))

    def show_waiting(self, text: str) -> None:
        self.query_one(".card-status", Static).update(Content(terminal_safe(text)))

    async def show_result(self) -> None:
        """Replace the pending line with the answer sentence and the passages."""
        ex = self.exchange
        await self.remove_children()
        self.remove_class("-pending")
        widgets = []
        sentence = answer_text(ex)
        said = verdict(ex.hits) if ex.hits else None
        if said is not None:  # the verdict and its one confidence (rag.search.verdict), as every interface says it
            scores = getattr(getattr(self.app, "config", None), "show_scores", True)
            self.border_title = verdict_line(ex.hits, confidence=scores)
        if said == "not_found":  # nothing is likely to answer: say so, and show the nearest passages dimmed
            self.add_class("-not-found")
            widgets.append(Static(Content(NOT_FOUND), classes="card-not-found"))
        elif said == "weak":
            self.add_class("-weak")
            widgets.append(Static(Content(WEAK), classes="card-weak"))
        if said != "not_found" and sentence is not None:
            widgets.append(Static(sentence, classes="answer-sentence"))
        if ex.note:
            widgets.append(Static(Content(terminal_safe(ex.note)), classes="card-note"))
        if not ex.hits:
            self.add_class("-empty")
            if not ex.note:
                widgets.append(Static(Content("No passage matched this question."), classes="card-note"))
        for i, hit in enumerate(ex.hits or []):
            widgets.append(PassageView(hit, ex.marks[i] if i < len(ex.marks) else None))
        await self.mount_all(widgets)
        self.filled = True

    async def show_error(self, message: str) -> None:
        await self.remove_children()
        self.remove_class("-pending")
        self.add_class("-failed")
        self.border_title = "No answer"
        await self.mount(Static(Content(terminal_safe(message)), classes="card-error"))
        self.filled = True

    def set_active(self, active: bool) -> None:
        """Only the latest answer's passages take the focus (tab and arrows move through them)."""
        self.set_class(not active, "-old")
        for p in self.passages:
            p.can_focus = active
