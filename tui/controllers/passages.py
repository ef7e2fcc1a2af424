"""The passage the user points at: select it, copy it as a quote, open its source file.

Reading a source file and handing a quote to a clipboard tool run in workers.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.worker import Worker

from rag.types import Hit

from ..clipboard import Delivery, deliver
from ..highlight import load_source
from ..messages import PassageCopied, SourceLoaded
from ..transcript import quote_markdown, relocate_hit, short_path
from ..widgets.source_screen import SourceScreen
from .base import Controller


class Passages(Controller):
    GROUPS = ("source", "copy")

    def __init__(self, app) -> None:
        super().__init__(app)
        self.selected: Hit | None = None  # the passage that has (or last had) the focus

    def current(self) -> Hit | None:
        """The selected passage, else the top passage of the latest answer."""
        if self.selected is not None:
            return self.selected
        ex = self.app.chat.latest_answered()
        return ex.hits[0] if ex is not None and ex.hits else None

    def typed(self, character: str) -> None:
        """Typing on a passage goes on in the question box."""
        box = self.app.question_box
        box.focus()
        box.insert_text_at_cursor(character)

    # ----------------------------------------------------------------- the source view
    def open_current(self) -> None:
        hit = self.current()
        if hit is None:
            self.app.notify("No passage to open yet: ask a question first.", severity="warning", markup=False)
            return
        self.open(hit)

    def open(self, hit: Hit) -> None:
        screen = SourceScreen(hit)
        self.app.push_screen(screen)
        self.run(self._load, screen, hit, None, group="source")

    def follow(self, retriever: Any) -> None:
        """A new index version answers: the open source views show the passage where it has it."""
        for screen in self.app.screen_stack:
            if isinstance(screen, SourceScreen):
                self.run(self._load, screen, screen.hit, retriever, group="source")

    def _load(self, screen: Screen, hit: Hit, retriever: Any) -> None:
        """Read the cited file; with ``retriever`` (a new index version), find the passage there first."""
        found = relocate_hit(hit, retriever) if retriever is not None else hit
        doc = load_source(found or hit)
        screen.post_message(SourceLoaded(doc, hit=found, rebuilt=retriever is not None))

    # ----------------------------------------------------------------- copying
    def copy(self) -> None:
        hit = self.current()
        if hit is None:
            self.app.notify("Nothing to copy yet: ask a question first.", severity="warning", markup=False)
            return
        text = quote_markdown(hit)
        self.app.copy_to_clipboard(text)  # OSC 52: the terminal may or may not take it; nothing says which
        self.run(self._deliver, hit, text, group="copy")

    def _deliver(self, hit: Hit, text: str) -> None:
        config = self.app.config
        folder = config.index if config.index.is_dir() else None
        self.app.post_message(PassageCopied(hit.rank, str(hit.citation), deliver(text, folder, config.clipboard_commands)))

    def copied(self, message: PassageCopied) -> None:
        what = f"passage {message.rank} ({message.citation}) as a Markdown quote"
        d: Delivery = message.delivery
        if d.tool is not None:
            self.app.notify(f"Copied {what} to the clipboard with {d.tool}.", title="Copied", markup=False)
        else:
            self.app.notify(
                f"Sent {what} to the terminal clipboard (OSC 52). If your terminal ignores it, "
                f"the quote is also in {short_path(d.file) if d.file else '?'}",
                title="Copy",
                markup=False,
            )

    # ----------------------------------------------------------------- failures
    async def failed(self, worker: Worker, text: str) -> None:
        if worker.group == "source":
            if isinstance(self.app.screen, SourceScreen):
                self.app.pop_screen()
            self.app.notify(text, title="Cannot show the source", severity="error", markup=False)
        else:
            self.app.notify(text, title="The quote was not saved", severity="warning", markup=False)
