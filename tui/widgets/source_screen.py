"""The source view: the seed file behind a citation, scrolled to the cited lines; Escape returns.

The app reads the file in a worker and posts :class:`~tui.messages.SourceLoaded` to this screen.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from rag.terminal_text import terminal_line, terminal_safe
from rag.types import Hit

from ..messages import SourceLoaded
from ..transcript import answer_citation, plural
from ..viewer import open_file
from .source_view import SourceView


class SourceScreen(Screen):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", tooltip="Back to the conversation"),
        Binding("ctrl+y", "app.copy_passage", "Copy passage"),
        Binding("g", "recenter", "Cited lines", tooltip="Scroll back to the cited lines"),
        Binding("o", "open_original", "Open original", tooltip="Open the file in the system viewer (at the cited page)"),
    ]

    def __init__(self, hit: Hit) -> None:
        super().__init__()
        self.hit = hit

    def _title(self, extra: str = "") -> Content:
        h = self.hit
        lines = "line" if h.line_start == h.line_end else "lines"
        span = f"{h.line_start}" if h.line_start == h.line_end else f"{h.line_start}-{h.line_end}"
        page = f"page {h.page}, " if h.page is not None else ""
        section = f" · § {terminal_line(h.section)}" if h.section else ""
        return Content.assemble(
            (terminal_line(h.source), "bold"),
            f"  {page}{lines} {span}{section} · paragraph {h.paragraph} · passage {h.rank}{extra}",
        )

    def compose(self) -> ComposeResult:
        h = self.hit
        yield Header(icon="❯")
        yield Static(self._title(), id="source-title")
        if h.answer is not None:
            yield Static(
                Content.assemble(
                    "Best sentence: ",
                    (terminal_safe(h.answer.text), "italic"),
                    f"  ({terminal_line(answer_citation(h))})",
                ),
                id="source-answer",
            )
        yield Static(Content("Reading the file…"), id="source-loading")
        yield Footer()

    @property
    def view(self) -> SourceView | None:
        found = self.query(SourceView)
        return found.first() if found else None

    async def on_source_loaded(self, message: SourceLoaded) -> None:
        doc = message.document
        if message.rebuilt and message.hit is not None:
            self.hit = message.hit  # where the rebuilt index has the passage now
        old = self.view
        if old is not None:
            await old.remove()
        found = self.query("#source-loading")
        loading = found.first(Static) if found else None
        if loading is None:
            loading = Static(Content(""), id="source-loading")
            await self.mount(loading, before=self.query_one(Footer))
        if doc.first_line > 1 or doc.last_line < doc.total_lines:
            shown = f" · lines {doc.first_line}-{doc.last_line} of {doc.total_lines:,} shown"
        else:
            shown = f" · {plural(doc.total_lines, 'line')}"
        self.query_one("#source-title", Static).update(self._title(shown))
        warning = None
        if message.rebuilt and message.hit is None:
            warning = (
                "⚠  The rebuilt index no longer holds this passage (the file changed): the highlighted lines are "
                "where it was. Ask again to search the new index."
            )
        elif doc.stale and message.rebuilt:
            warning = "⚠  This file changed after the index was rebuilt: the cited lines may have moved. Rebuild with ctrl+r."
        elif doc.stale:
            warning = "⚠  This file changed since the index was built: the cited lines may have moved. Rebuild with ctrl+r."
        if warning is not None:
            loading.update(Content(warning))
            loading.add_class("-warning")
        else:
            await loading.remove()
        view = SourceView(doc, id="source-view")
        await self.mount(view, before=self.query_one(Footer))
        view.focus()

    def action_open_original(self) -> None:
        """The original file in the system viewer, at the cited page where it can be told it (in a
        thread: looking for a viewer and starting it never holds up the UI)."""
        h = self.hit
        self.run_worker(lambda: self._open_original(h), thread=True, group="open-original", exit_on_error=False)

    def _open_original(self, h: Hit) -> None:
        self.app.notify(terminal_line(open_file(Path(h.path), h.source, h.page)), markup=False)  # thread-safe

    def action_recenter(self) -> None:
        if self.view is not None:
            self.view.scroll_to_citation()
