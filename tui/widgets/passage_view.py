"""One ranked passage of an answer: rank, citation, score, and its text with highlights.

Focusable: up/down move between the passages of the answer, Enter opens the source view; tab,
escape or typing goes back to the question box.
The passage text is seed text: it is only ever shown as literal :class:`Content`, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.style import Style
from textual.widget import Widget

from rag.documents.headers import chunk_header
from rag.terminal_text import terminal_line, terminal_safe
from rag.types import Hit

from ..highlight import Marks


def styled_text(text: str, marks: Marks) -> Content:
    """The passage with its answer sentence and matched words marked by component classes."""
    c = Content(terminal_safe(text))  # one visible character per control character: offsets hold
    if marks.answer is not None:
        c = c.stylize(".passage--answer", *marks.answer)
    for s, e in marks.words:
        c = c.stylize(".passage--match", s, e)
    return c


class PassageView(Widget, can_focus=True):
    """A passage of an answer card."""

    COMPONENT_CLASSES = {
        "passage--rank",
        "passage--rank-selected",
        "passage--citation",
        "passage--meta",
        "passage--answer",
        "passage--match",
    }

    BINDINGS = [
        Binding("enter", "open", "Open source", tooltip="Show the file at the cited lines"),
        Binding("down", "move(1)", "Next passage", show=False),
        Binding("up", "move(-1)", "Previous passage", show=False),
        Binding("escape", "app.focus_question", "Question", key_display="esc/tab", tooltip="Back to the question box"),
        Binding("tab,shift+tab", "app.focus_question", "Question", show=False),
    ]

    @dataclass
    class Selected(Message):
        """A passage got the focus: it is the one that copy and open act on."""

        hit: Hit

    @dataclass
    class Typed(Message):
        """A printable key was typed on a passage: it belongs in the question box."""

        character: str

    @dataclass
    class OpenRequested(Message):
        hit: Hit

    def __init__(self, hit: Hit, marks: Marks | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hit = hit
        self.marks = marks or Marks()

    def render(self) -> Content:
        h = self.hit
        head = Content.assemble(
            (f" {h.rank} ", self._badge_style()),
            " ",
            (terminal_line(h.citation), ".passage--citation"),
            (f"  § {terminal_line(where)}" if (where := chunk_header(h.title, h.section)) else "", ".passage--meta"),
            (self._meta(), ".passage--meta"),
        )
        return Content.assemble(head, "\n", styled_text(h.text, self.marks))

    def _meta(self) -> str:
        h = self.hit
        # The card shows one confidence, its verdict's (AnswerCard): per-passage figures out of rank
        # order read as a contradiction. The score orders the passages.
        if getattr(getattr(self.app, "config", None), "show_scores", True) and h.confidence is None:
            return f"  ¶{h.paragraph} · score {h.score:.4f}"
        return f"  ¶{h.paragraph}"

    def on_key(self, event: events.Key) -> None:
        if event.is_printable and event.character:
            event.stop()
            event.prevent_default()
            self.post_message(self.Typed(event.character))

    def _badge_style(self) -> Style:
        """The rank badge's solid colours (a component's partial style would drop its background)."""
        name = "passage--rank-selected" if self.has_focus else "passage--rank"
        return Style.from_rich_style(self.get_component_rich_style(name))

    def on_focus(self) -> None:
        self.refresh()
        self.post_message(self.Selected(self.hit))

    def on_blur(self) -> None:
        self.refresh()

    def on_click(self, event: events.Click) -> None:
        if event.chain >= 2:
            self.action_open()

    def action_open(self) -> None:
        self.post_message(self.OpenRequested(self.hit))

    async def action_move(self, delta: int) -> None:
        parent = self.parent
        if parent is None:
            return
        siblings = [w for w in parent.children if isinstance(w, PassageView) and w.focusable]
        if self not in siblings:
            return
        i = siblings.index(self) + delta
        if 0 <= i < len(siblings):
            siblings[i].focus()
        elif i < 0:
            await self.run_action("app.focus_question")
