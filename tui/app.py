"""The rag terminal app: ask questions about the seeds and read cited answers.

:class:`RagApp` lays out the widgets and hands each event to the controller whose job it is
(:mod:`tui.controllers`): the open index, builds, the conversation, the selected passage, export
and the search options. Everything slow (opening the index, loading the model, searching,
rebuilding, checking the seeds, reading a source file, writing files) runs in thread workers that
only compute and post a message from :mod:`tui.messages`; when a worker fails, the one
``Worker.StateChanged`` handler hands it to its controller, which turns it into a notification or a
line in the conversation. Heavy modules (numpy, faiss, the model) are imported in workers, so the
first frame appears at once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.screen import Screen
from textual.widgets import Footer, Header, Input
from textual.worker import Worker, WorkerState

from rag.terminal_text import terminal_line, terminal_safe

from . import commands
from .config import AppConfig
from .controllers.base import Controller
from .controllers.build import Builder
from .controllers.chat import Conversation
from .controllers.export import Exporter
from .controllers.index import IndexKeeper
from .controllers.options import Options
from .controllers.passages import Passages
from .logview import show_library_warnings, stop_showing
from .messages import (
    BuildFinished,
    BuildProgressed,
    ConversationExported,
    HistoryLoaded,
    IndexOpened,
    IndexRefreshFailed,
    ModelReady,
    PassageCopied,
    SearchCompleted,
    SeedsChecked,
    WatchChanged,
)
from .transcript import Exchange
from .widgets.build_progress import BuildProgress
from .widgets.conversation_log import ConversationLog
from .widgets.passage_view import PassageView
from .widgets.question_input import QuestionInput
from .widgets.seeds_banner import SeedsBanner
from .widgets.status_bar import StatusBar
from .widgets.welcome import Welcome


class RagApp(App[int]):
    """Ask questions about the seeds; read answers with citations; open sources; rebuild."""

    CSS_PATH = "app.tcss"
    TITLE = "rag"
    SUB_TITLE = "ask your documents"
    BINDINGS = commands.BINDINGS

    def __init__(self, config: AppConfig) -> None:
        super().__init__()
        self.config = config
        self.timings: dict[str, float] = {"created": time.perf_counter()}
        self.options = Options(self)
        self.index = IndexKeeper(self)
        self.builder = Builder(self)
        self.chat = Conversation(self)
        self.passages = Passages(self)
        self.exporter = Exporter(self)
        jobs: tuple[Controller, ...] = (self.options, self.index, self.builder, self.chat, self.passages, self.exporter)
        self._owners = {group: job for job in jobs for group in job.GROUPS}
        self._log_handler: logging.Handler | None = None  # shows the library's warnings while mounted

    # ----------------------------------------------------------------- what scripts and tests read
    @property
    def retriever(self) -> Any:
        return self.index.retriever

    @property
    def building(self) -> bool:
        return self.builder.building

    @property
    def exchanges(self) -> list[Exchange]:
        return self.chat.exchanges

    # ----------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Header(icon="❯")
        yield SeedsBanner(id="banner")
        yield ConversationLog(Welcome(self.config.seeds_label, self.config.index_label), id="log")
        yield QuestionInput(id="question")
        yield BuildProgress(id="build")
        yield StatusBar(id="status")
        yield Footer()

    @property
    def log_view(self) -> ConversationLog:
        return self.query_one("#log", ConversationLog)

    @property
    def question_box(self) -> QuestionInput:
        return self.query_one("#question", QuestionInput)

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one("#status", StatusBar)

    def on_mount(self) -> None:
        self.timings["mounted"] = time.perf_counter()
        box = self.question_box
        box.cursor_blink = self.config.cursor_blink
        box.focus()
        self.status_bar.set_state("Opening the index…")
        self.status_bar.set_index(self.config.where)
        self.status_bar.set_settings(self.options.mode, self.options.k)
        self.chat.load_history()
        self._log_handler = show_library_warnings(self)
        self.index.open()

    def on_unmount(self) -> None:
        self.index.close()
        if self._log_handler is not None:
            stop_showing(self._log_handler)

    def notify(self, message: str, *, title: str = "", severity="information", timeout=None, markup: bool = True) -> None:
        """A toast with control characters made visible: its text may hold file names, error
        messages or document text. The app passes ``markup=False`` for all of its own toasts (a
        test checks), so brackets in such text are shown, never interpreted; Textual's own toasts
        keep their markup."""
        super().notify(terminal_safe(message), title=terminal_line(title), severity=severity, timeout=timeout, markup=markup)

    # ----------------------------------------------------------------- workers' ends, to their controllers
    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        owner = self._owners.get(event.worker.group)
        if owner is not None and event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            await owner.worker_ended(event.worker, event.state)

    # ----------------------------------------------------------------- workers' messages, to their controllers
    # The live index's threads (an update, the watch) post until it is closed, which happens as the app
    # closes: what arrives once the app stopped running (its widgets being removed) is dropped.
    async def on_index_opened(self, message: IndexOpened) -> None:
        if self.is_running:
            await self.index.opened(message)

    def on_model_ready(self, message: ModelReady) -> None:
        self.index.model_ready()

    def on_seeds_checked(self, message: SeedsChecked) -> None:
        self.index.seeds_checked(message)

    def on_index_refresh_failed(self, message: IndexRefreshFailed) -> None:
        self.index.refresh_failed(message.text)

    def on_watch_changed(self, message: WatchChanged) -> None:
        if self.is_running:
            self.index.watch_changed(message.state)

    def on_build_progressed(self, message: BuildProgressed) -> None:
        if self.is_running:
            self.builder.progressed(message)

    async def on_build_finished(self, message: BuildFinished) -> None:
        if self.is_running:
            await self.builder.finished(message.stats, message.error)

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        self.question_box.set_history(message.questions)

    async def on_search_completed(self, message: SearchCompleted) -> None:
        await self.chat.completed(message)

    def on_passage_copied(self, message: PassageCopied) -> None:
        self.passages.copied(message)

    async def on_conversation_exported(self, message: ConversationExported) -> None:
        await self.exporter.exported(message.path)

    # ----------------------------------------------------------------- widgets' messages
    @on(Input.Submitted, "#question")
    async def _question_submitted(self, event: Input.Submitted) -> None:
        await self.chat.submitted(event.value)

    def on_passage_view_selected(self, message: PassageView.Selected) -> None:
        self.passages.selected = message.hit

    def on_passage_view_typed(self, message: PassageView.Typed) -> None:
        self.passages.typed(message.character)

    def on_passage_view_open_requested(self, message: PassageView.OpenRequested) -> None:
        self.passages.open(message.hit)

    # ----------------------------------------------------------------- keys and the command palette
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The source view and the options show only what applies there."""
        return commands.applies(self.screen, action)

    def action_copy_passage(self) -> None:
        self.passages.copy()

    def action_options(self) -> None:
        self.options.show()

    def action_rebuild(self) -> None:
        self.builder.rebuild()

    def action_export(self) -> None:
        self.exporter.export()

    def action_focus_question(self) -> None:
        self.question_box.focus()

    def action_scroll_log(self, direction: int) -> None:
        if direction < 0:
            self.log_view.scroll_page_up(animate=False)
        else:
            self.log_view.scroll_page_down(animate=False)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from commands.palette_commands(self)

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None, time_format: str | None = None) -> str | None:
        """Save into a folder that exists: ~/Downloads when there, else the current folder."""
        return super().deliver_screenshot(filename, path or str(self.config.screenshot_folder()), time_format)


def make_app(index: str | os.PathLike, seeds: str | os.PathLike, **options: Any) -> RagApp:
    """The app for ``index`` and ``seeds``; ``options`` are :class:`AppConfig` fields."""
    return RagApp(AppConfig(Path(index), Path(seeds), **options))


def run(index: str | os.PathLike = os.path.join("indexes", "default"), seeds: str | os.PathLike = "seeds",
        watch: bool = True) -> int:
    """Open the app in the terminal; returns the exit status. ``watch``: follow the seeds folder."""
    app = make_app(index, seeds, watch=watch)
    app.run()
    return int(app.return_code or 0)
