"""The rag terminal app: ask questions about the seeds and read cited answers.

Everything slow (opening the index, loading the model, searching, rebuilding, checking the seeds,
reading a source file, writing files) runs in thread workers that only compute and post a message
from :mod:`tui.messages`; one ``Worker.StateChanged`` handler turns failures into a notification
or a line in the conversation. Heavy modules (numpy, faiss, the model) are imported in workers, so
the first frame appears at once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker
from textual.widgets import Footer, Header, Input

from rag.errors import IndexMissingError
from rag.terminal_text import terminal_line, terminal_safe
from rag.types import Hit

from .clipboard import Delivery
from .history import HISTORY_FILE, History
from .messages import (
    BuildFinished,
    BuildProgressed,
    ConversationExported,
    HistoryLoaded,
    IndexOpened,
    IndexRefreshFailed,
    PassageCopied,
    ModelReady,
    SearchCompleted,
    SeedsChecked,
    SeedsSaved,
    SourceLoaded,
)
from .settings import SETTINGS_FILE, Settings, load_settings, save_settings
from .transcript import (
    Exchange,
    built_time,
    conversation_markdown,
    export_path,
    model_label,
    plural,
    quote_markdown,
    relocate_hit,
    short_path,
    shown_answer,
)
from .widgets.answer_card import AnswerCard
from .widgets.build_progress import BuildProgress
from .widgets.conversation_log import ConversationLog
from .widgets.log_note import Severity
from .widgets.passage_view import PassageView
from .widgets.question_input import QuestionInput
from .widgets.seeds_banner import SeedsBanner
from .widgets.settings_screen import MAX_K, MODES, SettingsScreen
from .widgets.source_screen import SourceScreen
from .widgets.status_bar import StatusBar
from .widgets.welcome import Welcome

DEFAULT_K = 5
DEFAULT_MODE = "hybrid"

COMMANDS_HELP = (
    "Commands: /k N sets how many passages an answer shows (1-50); /mode hybrid|dense|bm25 sets the "
    "search mode; /rebuild updates the index; /export saves the conversation; /help shows this. "
    "Keys: tab moves between the question box and the passages (esc or any letter returns to the "
    "question); ctrl+p opens the command palette; ctrl+q quits."
)


@dataclass
class AppConfig:
    """Where the app reads and writes, and what it uses to open, build and encode.

    Tests inject a small index, a fake encoder, or their own ``open_retriever``/``build``.
    """

    index: Path
    seeds: Path
    encoder: Any = None  # a rag.embedding.document_encoder.Encoder for both building and questions; None = the bundled model
    open_retriever: Callable[[Path, Any], Any] | None = None  # (index, previous retriever) -> Retriever
    build: Callable[..., Any] | None = None  # build_index(seeds, index, progress=, cancel=) -> BuildStats
    history_path: Path | None = None  # default: history.jsonl inside the index folder
    export_dir: Path | None = None  # default: exports/ inside the index folder
    settings_path: Path | None = None  # default: settings.json inside the index folder
    remember_settings: bool = True  # False: mode and k are neither read nor saved (pictures, tests)
    clipboard_commands: list[tuple[str, ...]] | None = None  # None: wl-copy/xclip/xsel/pbcopy found here
    screenshot_dir: Path | None = None  # None: ~/Downloads when it exists, else the current folder
    show_scores: bool = True  # False hides the passages' scores (pictures that must not depend on floats)
    index_label: str | None = None  # how the index is named on screen (default: a short path)
    seeds_label: str | None = None
    cursor_blink: bool = True
    warm_up: bool = True  # load the model and search once as soon as the index is open
    k: int | None = None  # None: the saved setting, else DEFAULT_K
    mode: str | None = None  # None: the saved setting, else DEFAULT_MODE
    watch: bool = False  # follow the seeds folder: each burst of saves updates the index (`rag chat` turns it on)

    def __post_init__(self) -> None:
        self.index = Path(self.index)
        self.seeds = Path(self.seeds)
        if self.history_path is None:
            self.history_path = self.index / HISTORY_FILE
        if self.export_dir is None:
            self.export_dir = self.index / "exports"
        if self.settings_path is None:
            self.settings_path = self.index / SETTINGS_FILE
        if self.index_label is None:
            self.index_label = short_path(self.index)
        if self.seeds_label is None:
            self.seeds_label = short_path(self.seeds) + "/"

    def open(self, previous: Any = None) -> Any:
        if self.open_retriever is not None:
            return self.open_retriever(self.index, previous)
        from rag.errors import IndexMismatchError
        from rag.search.retriever import Retriever

        encoder = self.encoder
        if encoder is None and previous is not None:
            encoder = previous.encoder()  # already loaded: reuse it for the new version
        try:
            return Retriever.open(self.index, encoder=encoder)
        except IndexMismatchError:
            if encoder is None or self.encoder is not None:
                raise
            return Retriever.open(self.index)  # the new version uses another model

    def refresh(self, current: Any) -> Any:
        """The newest complete version when a build (here or in another process) published one since
        ``current`` was opened, else ``current`` itself. Cheap when nothing changed (one small file)."""
        is_current = getattr(current, "is_current", None)
        if is_current is None or is_current():
            return current
        if self.open_retriever is None and hasattr(current, "refreshed"):
            from rag.errors import IndexMismatchError

            try:
                return current.refreshed()
            except IndexMismatchError:
                pass  # the new version uses another model: open it with that one
        return self.open(current)

    def run_build(self, progress: Callable[[str, int, int], None], cancel, full: bool = False) -> Any:
        """Update the index (only what changed), or rebuild it all (``full``) when it is unusable."""
        if self.build is not None:
            return self.build(self.seeds, self.index, progress=progress, cancel=cancel, rebuild=full)
        from rag.indexing.build import build_index

        # The query-encoder export (once per model) runs detached: no answer waits for it.
        return build_index(
            self.seeds, self.index, rebuild=full, encoder=self.encoder, progress=progress, cancel=cancel,
            export_query_encoder="background",
        )


def _one_line(error: BaseException) -> str:
    """The error as one line for the user: rag errors say it themselves; others get their type."""
    from rag.errors import RagError

    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(error, RagError) or type(error).__name__ == "SourceUnavailable":
        return first or type(error).__name__
    return f"{type(error).__name__}: {first}"[:300] if first else type(error).__name__


class RagApp(App[int]):
    """Ask questions about the seeds; read answers with citations; open sources; rebuild."""

    CSS_PATH = "app.tcss"
    TITLE = "rag"
    SUB_TITLE = "ask your documents"

    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", tooltip="Quit rag", priority=True),
        Binding("ctrl+y", "copy_passage", "Copy", tooltip="Copy the selected passage as a Markdown quote"),
        Binding("ctrl+o", "options", "Options", tooltip="Search mode and passages per answer"),
        Binding("ctrl+r", "rebuild", "Rebuild", tooltip="Update the index from the seeds folder"),
        Binding("ctrl+s", "export", "Export", tooltip="Save the conversation as Markdown"),
        Binding("pageup", "scroll_log(-1)", "Scroll up", show=False),
        Binding("pagedown", "scroll_log(1)", "Scroll down", show=False),
    ]

    def __init__(self, config: AppConfig) -> None:
        super().__init__()
        self.config = config
        self.timings: dict[str, float] = {"created": time.perf_counter()}
        self.retriever: Any = None
        self.history = History(config.history_path)
        self.exchanges: list[Exchange] = []
        self.selected_hit: Hit | None = None
        saved = load_settings(
            config.settings_path if config.remember_settings else None, Settings(DEFAULT_MODE, DEFAULT_K), MODES, MAX_K
        )
        self.mode = config.mode if config.mode in MODES else saved.mode
        self.k = min(max(1, int(config.k)), MAX_K) if config.k is not None else saved.k
        self._refresh_lock = threading.Lock()
        self._newest: Any = None  # the newest retriever a worker opened (searches switch to it)
        self.building = False
        self._index_error: str | None = None
        self._auto_build_tried = False
        self._waiting: list[Exchange] = []  # asked before an index was open
        self._search_workers: dict[Worker, int] = {}
        self._history_warned = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The source view and the options show only what applies there."""
        if isinstance(self.screen, SettingsScreen) and action in ("options", "export", "rebuild", "copy_passage", "scroll_log"):
            return False
        if isinstance(self.screen, SourceScreen) and action in ("options", "export", "scroll_log"):
            return False
        return True

    def notify(self, message: str, *, title: str = "", severity="information", timeout=None, markup: bool = True) -> None:
        """A toast with control characters made visible: its text may hold file names, error
        messages or document text. The app passes ``markup=False`` for all of its own toasts (a
        test checks), so brackets in such text are shown, never interpreted; Textual's own toasts
        keep their markup."""
        super().notify(terminal_safe(message), title=terminal_line(title), severity=severity, timeout=timeout, markup=markup)

    # ----------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Header(icon="❯")
        yield SeedsBanner(id="banner")
        yield ConversationLog(Welcome(self.config.seeds_label or "", self.config.index_label or ""), id="log")
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

    def _where(self) -> str:
        """Which folder and which index answer, as the status bar names them."""
        return f"{self.config.seeds_label} → {self.config.index_label}"

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one("#status", StatusBar)

    def on_mount(self) -> None:
        self.timings["mounted"] = time.perf_counter()
        box = self.question_box
        box.cursor_blink = self.config.cursor_blink
        box.focus()
        self.status_bar.set_state("Opening the index…")
        self.status_bar.set_index(self._where())
        self.status_bar.set_settings(self.mode, self.k)
        self.load_history()
        from .logview import show_library_warnings

        self._log_handler = show_library_warnings(self)
        self.open_index()
        self._watch_stop = None
        if self.config.watch and self.config.seeds.is_dir():
            from rag.service.watch import start_watcher

            self._watch_stop = start_watcher(self.config.seeds, lambda _paths: self.post_message(SeedsSaved()),
                                             index=self.config.index)

    def on_unmount(self) -> None:
        if getattr(self, "_watch_stop", None) is not None:
            self._watch_stop.set()
        from .logview import stop_showing

        if getattr(self, "_log_handler", None) is not None:
            stop_showing(self._log_handler)

    # ----------------------------------------------------------------- workers (compute, then post)
    @work(thread=True, exclusive=True, exit_on_error=False, group="index")
    def open_index(self, previous: Any = None) -> None:
        self.post_message(IndexOpened(self.config.open(previous)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="model")
    def warm_up(self, retriever: Any) -> None:
        retriever.search("warm up", k=1, mode="hybrid")
        self.post_message(ModelReady())

    @work(thread=True, exit_on_error=False, group="search")
    def search_worker(self, retriever: Any, exchange: Exchange) -> None:
        from .highlight import marks_for, only_common_words

        from rag.errors import RagError

        with self._refresh_lock:  # one switch even when several questions are in flight
            base = self._newest if self._newest is not None else retriever
            try:
                fresh = self.config.refresh(base)
            except RagError as exc:
                fresh = base
                self.post_message(IndexRefreshFailed(_one_line(exc)))
            if fresh is not base:
                self._newest = fresh
                self.post_message(IndexOpened(fresh))
        result = fresh.ask(exchange.question, k=exchange.k, mode=exchange.mode, history=list(exchange.history),
                           history_answers=list(exchange.shown) if exchange.shown else None)
        hits = result.hits
        cache: dict[str, bool] = {}
        marks = [marks_for(h, cache) for h in hits]
        note = None
        if hits and exchange.history and result.follow_up.depends:
            shown = " and the last answer shown" if exchange.shown and exchange.shown[-1] else ""
            note = f"Read as a follow-up: searched with the earlier questions{shown}."
        elif only_common_words(exchange.question):
            if exchange.mode == "bm25":
                note = "Only common words (stopwords) in this question: bm25 has nothing to match. Try hybrid or dense mode."
            else:
                note = "Only common words (stopwords) in this question: these passages were found by meaning alone."
        elif not hits:
            note = "No passage contains these words. Try other words, or the hybrid or dense mode (ctrl+o)."
        self.post_message(SearchCompleted(exchange.id, hits, marks, note))

    @work(thread=True, exclusive=True, exit_on_error=False, group="index")
    def refresh_index(self, current: Any) -> None:
        """Switch to a version built outside the app (``rag index`` in another shell), if any."""
        with self._refresh_lock:
            fresh = self.config.refresh(current)
            if fresh is not current:
                self._newest = fresh
                self.post_message(IndexOpened(fresh))

    @work(thread=True, exclusive=True, exit_on_error=False, group="build")
    def build_worker(self, full: bool) -> None:
        cancel = get_current_worker().cancelled_event

        def progress(stage: str, done: int, total: int) -> None:
            self.post_message(BuildProgressed(stage, done, total))

        self.post_message(BuildFinished(self.config.run_build(progress, cancel, full)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="seeds")
    def check_seeds(self, manifest: dict) -> None:
        from rag.documents.changes import seeds_changes

        seeds = self.config.seeds
        root = str(manifest.get("seeds_root") or "")
        if not root or not seeds.is_dir():
            return
        if Path(root) != seeds.resolve():
            self.post_message(SeedsChecked(None, other_root=root))
            return
        self.post_message(SeedsChecked(seeds_changes(seeds, manifest, self.config.index)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="source")
    def load_source(self, screen: Screen, hit: Hit, retriever: Any = None) -> None:
        """Read the cited file; with ``retriever`` (a new index version), find the passage there first."""
        from .highlight import load_source

        found = relocate_hit(hit, retriever) if retriever is not None else hit
        doc = load_source(found or hit)
        screen.post_message(SourceLoaded(doc, hit=found, rebuilt=retriever is not None))

    @work(thread=True, exclusive=True, exit_on_error=False, group="copy")
    def copy_worker(self, hit: Hit, text: str) -> None:
        from .clipboard import deliver

        folder = self.config.index if self.config.index.is_dir() else None
        self.post_message(PassageCopied(hit.rank, str(hit.citation), deliver(text, folder, self.config.clipboard_commands)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def export_worker(self, text: str, folder: Path, stamp: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = export_path(folder, stamp)
        path.write_text(text, encoding="utf-8")
        self.post_message(ConversationExported(str(path)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="history")
    def load_history(self) -> None:
        self.post_message(HistoryLoaded(self.history.load()))

    @work(thread=True, exit_on_error=False, group="history-save")
    def save_question(self, question: str) -> None:
        self.history.append(question)

    # ----------------------------------------------------------------- failures, in one place
    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.SUCCESS:
            self._search_workers.pop(worker, None)
            return
        if event.state == WorkerState.CANCELLED and worker.group == "build":
            self._build_ended()
            return
        if event.state != WorkerState.ERROR:
            return
        error = worker.error
        text = _one_line(error) if error is not None else "unknown error"
        group = worker.group
        if group == "index":
            await self._index_failed(error, text)
        elif group == "build":
            await self._build_failed(error, text)
        elif group == "search":
            exchange_id = self._search_workers.pop(worker, None)
            if exchange_id is not None:
                await self._fail_exchange(self._exchange(exchange_id), text)
        elif group == "model":
            self.status_bar.set_state("Model not loaded", "error")
            self.notify(text, title="The embedding model did not load", severity="error", markup=False)
        elif group == "source":
            if isinstance(self.screen, SourceScreen):
                self.pop_screen()
            self.notify(text, title="Cannot show the source", severity="error", markup=False)
        elif group == "history-save":
            if not self._history_warned:
                self._history_warned = True
                self.notify(text, title="History not saved", severity="warning", markup=False)
        elif group == "copy":
            self.notify(text, title="The quote was not saved", severity="warning", markup=False)
        elif group == "seeds":
            self.notify(text, title="Cannot check the seeds folder", severity="warning", markup=False)
        else:
            self.notify(text, title=f"{group.capitalize()} failed", severity="error", markup=False)

    async def _index_failed(self, error: BaseException | None, text: str) -> None:
        if isinstance(error, IndexMissingError) and self.retriever is None and not self._auto_build_tried:
            self._auto_build_tried = True
            await self.note(
                f"No index yet at {self.config.index_label}: building it from {self.config.seeds_label} "
                "(first run: the bar below shows each step). You can type your question meanwhile."
            )
            self._start_build("Building the index")
            return
        if self.retriever is not None:  # the old index keeps answering
            self.status_bar.set_state("Ready (new index not opened)", "error")
            self.notify(text, title="The new index did not open", severity="error", markup=False)
            return
        self._index_error = text
        self.status_bar.set_state("No index", "error")
        await self.note(f"{text}. Press ctrl+r to rebuild it from {self.config.seeds_label}.", "error")
        await self._fail_waiting(f"no index to search: {text}")

    async def _build_failed(self, error: BaseException | None, text: str) -> None:
        from rag.errors import SeedsError

        self._build_ended()
        if type(error).__name__ == "BuildCancelled":
            self.notify(text, title="Rebuild cancelled", severity="warning", markup=False)
            return
        if isinstance(error, SeedsError):  # says what is wrong with the seeds and what to do
            self.notify(text, title="Cannot build the index", severity="error", markup=False)
            await self.note(text, "error")
        else:
            what = "Rebuild failed" if self.retriever is not None else "Building the index failed"
            self.notify(text, title=what, severity="error", markup=False)
            await self.note(f"{what}: {text}", "error")
        if self.retriever is None:
            self._index_error = text
            self.status_bar.set_state("No index", "error")
            await self._fail_waiting(f"no index to search: {text}")

    # ----------------------------------------------------------------- index and model
    async def on_index_opened(self, message: IndexOpened) -> None:
        r = message.retriever
        if r is self.retriever:
            return
        rebuilt = self.retriever is not None
        self.retriever = r
        self._newest = r  # no lock here: the UI thread never waits for a worker's index load
        self._index_error = None
        info = r.info
        self.status_bar.set_index(f"{self._where()} · {plural(info.files, 'file')} · {plural(info.passages, 'passage')}")
        waiting, self._waiting = self._waiting, []
        if self.config.warm_up and not waiting:  # a waiting question warms the model by itself
            self.status_bar.set_state("Loading the model…")
            self.warm_up(r)
        elif not self.building:
            self.status_bar.set_state("Ready", "ready")
        if rebuilt:
            self.notify(
                f"Now answering from the new index: {plural(info.files, 'file')}, {plural(info.passages, 'passage')}.",
                title="Index updated",
                markup=False,
            )
            when = built_time(info.built_at)
            await self.note(
                f"Switched to the index built {'at ' + when if when else 'just now'} "
                f"({plural(info.files, 'file')}, {plural(info.passages, 'passage')})."
            )
            for screen in self.screen_stack:
                if isinstance(screen, SourceScreen):  # show the passage where the new version has it
                    self.load_source(screen, screen.hit, r)
        self.query_one(SeedsBanner).hide()
        self.check_seeds(r.manifest)
        for ex in waiting:
            self._start_search(ex)

    def on_model_ready(self, message: ModelReady) -> None:
        self.timings.setdefault("model_ready", time.perf_counter())
        if not self.building:
            self.status_bar.set_state("Ready", "ready")

    def on_seeds_checked(self, message: SeedsChecked) -> None:
        banner = self.query_one(SeedsBanner)
        if message.other_root is not None:
            banner.show(
                f"This index was built from another folder ({short_path(message.other_root)}). "
                f"Press ctrl+r to rebuild it from {self.config.seeds_label}."
            )
            return
        ch = message.changes
        if not ch:
            banner.hide()
            return
        names = ", ".join((ch.added + ch.modified + ch.removed)[:3])
        more = "…" if len(ch.added) + len(ch.modified) + len(ch.removed) > 3 else ""
        text = f"Seeds changed since the index was built: {ch.summary()} ({names}{more}). Press ctrl+r to rebuild."
        banner.show(text)
        self.notify(text, title="Seeds changed", severity="warning", markup=False)

    def on_index_refresh_failed(self, message: IndexRefreshFailed) -> None:
        self.notify(
            f"{message.text}. Still answering from the version opened before.",
            title="The new index did not open",
            severity="warning",
            markup=False,
        )

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        self.question_box.set_history(message.questions)

    # ----------------------------------------------------------------- asking
    @on(Input.Submitted, "#question")
    async def ask(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.notify("Type a question first.", severity="warning", markup=False)
            return
        box = self.question_box
        box.clear()
        if text.startswith("/"):
            await self.run_command(text)
            return
        box.remember(text)
        self.save_question(text)
        ex = Exchange(len(self.exchanges) + 1, text, self.mode, self.k,
                      history=tuple(e.question for e in self.exchanges),
                      shown=tuple(shown_answer(e) for e in self.exchanges))
        self.exchanges.append(ex)
        card = await self.log_view.add_exchange(ex)
        if self.retriever is not None:
            self._start_search(ex)
        elif self._index_error is not None and not self.building:
            await self._fail_exchange(ex, f"no index to search: {self._index_error}. Press ctrl+r to rebuild.")
        else:
            self._waiting.append(ex)
            card.show_waiting("Waiting for the index to be built…" if self.building else "Waiting for the index to open…")

    def _start_search(self, ex: Exchange) -> None:
        card = self.log_view.card(ex.id)
        if card is not None:
            card.show_waiting("Searching…")
        worker = self.search_worker(self.retriever, ex)
        self._search_workers[worker] = ex.id

    def _exchange(self, exchange_id: int) -> Exchange:
        return self.exchanges[exchange_id - 1]

    async def on_search_completed(self, message: SearchCompleted) -> None:
        ex = self._exchange(message.exchange_id)
        ex.hits, ex.marks, ex.note = message.hits, message.marks, message.note
        card = self.log_view.card(ex.id)
        if card is None:
            return
        await card.show_result()
        self.timings.setdefault("first_answer", time.perf_counter())
        if self._latest_answered() is ex:
            self._activate(card)
            self.selected_hit = ex.hits[0] if ex.hits else None
            self.log_view.reveal(card)

    async def _fail_exchange(self, ex: Exchange, text: str) -> None:
        ex.error = text
        card = self.log_view.card(ex.id)
        if card is not None:
            await card.show_error(text)

    async def _fail_waiting(self, text: str) -> None:
        waiting, self._waiting = self._waiting, []
        for ex in waiting:
            await self._fail_exchange(ex, text)

    def _latest_answered(self) -> Exchange | None:
        for ex in reversed(self.exchanges):
            if ex.hits is not None:
                return ex
        return None

    def _activate(self, latest: AnswerCard) -> None:
        for card in self.log_view.cards:
            card.set_active(card is latest)
        focused = self.focused
        if isinstance(focused, PassageView) and not focused.can_focus:
            self.question_box.focus()

    async def note(self, text: str, severity: Severity = "information") -> None:
        await self.log_view.add_note(text, severity)

    # ----------------------------------------------------------------- passages and sources
    def on_passage_view_selected(self, message: PassageView.Selected) -> None:
        self.selected_hit = message.hit

    def on_passage_view_typed(self, message: PassageView.Typed) -> None:
        """Typing on a passage goes on in the question box."""
        box = self.question_box
        box.focus()
        box.insert_text_at_cursor(message.character)

    def on_passage_view_open_requested(self, message: PassageView.OpenRequested) -> None:
        self.open_source(message.hit)

    def open_source(self, hit: Hit) -> None:
        screen = SourceScreen(hit)
        self.push_screen(screen)
        self.load_source(screen, hit)

    def _selected(self) -> Hit | None:
        if self.selected_hit is not None:
            return self.selected_hit
        ex = self._latest_answered()
        return ex.hits[0] if ex is not None and ex.hits else None

    def action_copy_passage(self) -> None:
        hit = self._selected()
        if hit is None:
            self.notify("Nothing to copy yet: ask a question first.", severity="warning", markup=False)
            return
        text = quote_markdown(hit)
        self.copy_to_clipboard(text)  # OSC 52: the terminal may or may not take it; nothing says which
        self.copy_worker(hit, text)

    def on_passage_copied(self, message: PassageCopied) -> None:
        what = f"passage {message.rank} ({message.citation}) as a Markdown quote"
        d: Delivery = message.delivery
        if d.tool is not None:
            self.notify(f"Copied {what} to the clipboard with {d.tool}.", title="Copied", markup=False)
        else:
            self.notify(
                f"Sent {what} to the terminal clipboard (OSC 52). If your terminal ignores it, "
                f"the quote is also in {short_path(d.file) if d.file else '?'}",
                title="Copy",
                markup=False,
            )

    def action_open_source(self) -> None:
        hit = self._selected()
        if hit is None:
            self.notify("No passage to open yet: ask a question first.", severity="warning", markup=False)
            return
        self.open_source(hit)

    def action_focus_question(self) -> None:
        self.question_box.focus()

    def action_scroll_log(self, direction: int) -> None:
        log = self.log_view
        if direction < 0:
            log.scroll_page_up(animate=False)
        else:
            log.scroll_page_down(animate=False)

    # ----------------------------------------------------------------- rebuild
    def action_rebuild(self) -> None:
        if self.building:
            self.notify("A rebuild is already running.", severity="warning", markup=False)
            return
        self._start_build("Rebuilding the index")

    def on_seeds_saved(self, message: SeedsSaved) -> None:
        """Watch mode: update the index after a burst of saves (once more after a running build)."""
        if self.building:
            self._saved_while_building = True
            return
        if self.retriever is not None:
            self._start_build("Updating the index (files changed)")

    def _start_build(self, title: str) -> None:
        """Build in a worker; an index that did not open (damaged, other model) is rebuilt in full."""
        self.building = True
        self.query_one(BuildProgress).start(title)
        self.status_bar.set_state(f"{title}…")
        self.build_worker(full=self.retriever is None and self._index_error is not None)

    def _build_ended(self) -> None:
        self.building = False
        self.query_one(BuildProgress).finish()

    def on_build_progressed(self, message: BuildProgressed) -> None:
        if self.building:
            self.query_one(BuildProgress).advance(message.stage, message.done, message.total)

    async def on_build_finished(self, message: BuildFinished) -> None:
        stats = message.stats
        first = self.retriever is None
        self._build_ended()
        for w in stats.warnings:
            self.notify(w, title="Rebuild warning", severity="warning", markup=False)
        summary = stats.summary()
        if stats.skipped:
            names = ", ".join(f"{s.source} ({s.reason})" for s in stats.skipped[:3])
            summary += f": {names}" + ("…" if len(stats.skipped) > 3 else "")
        if first:
            await self.note(f"Index ready: {summary}.")
        if stats.changed or first:
            self.status_bar.set_state("Opening the new index…")
            self.open_index(self.retriever)
        else:
            self.status_bar.set_state("Ready", "ready")
            self.query_one(SeedsBanner).hide()
            self.refresh_index(self.retriever)  # a version built outside the app is newer
        self.notify(summary, title="Index built" if first else "Rebuild finished", markup=False)
        if getattr(self, "_saved_while_building", False):
            self._saved_while_building = False
            self.post_message(SeedsSaved())

    # ----------------------------------------------------------------- export
    def action_export(self) -> None:
        done = [ex for ex in self.exchanges if ex.done]
        if not done:
            self.notify("Nothing to export yet: ask a question first.", severity="warning", markup=False)
            return
        summary = ""
        if self.retriever is not None:
            info = self.retriever.info
            summary = f"{plural(info.files, 'file')}, {plural(info.passages, 'passage')}, {model_label(info.model)}"
        now = datetime.now()
        text = conversation_markdown(done, self.config.index_label or "", summary, now.strftime("%Y-%m-%d %H:%M"))
        self.export_worker(text, Path(self.config.export_dir), now.strftime("%Y%m%d-%H%M%S"))

    async def on_conversation_exported(self, message: ConversationExported) -> None:
        self.notify(f"Saved to {short_path(message.path)}", title="Conversation exported", markup=False)
        await self.note(f"Conversation exported to {short_path(message.path)}")

    # ----------------------------------------------------------------- settings
    def action_options(self) -> None:
        self.push_screen(SettingsScreen(self.mode, self.k), self.apply_settings)

    def apply_settings(self, result: tuple[str, int] | None) -> None:
        if result is None:
            return
        mode, k = result
        self.set_mode(mode)
        self.set_k(k)
        self.notify(f"Mode {self.mode}, k {self.k}: used for the next question.", markup=False)

    def set_mode(self, mode: str) -> None:
        if mode in MODES:
            self.mode = mode
            self._settings_changed()

    def set_k(self, k: int) -> None:
        self.k = min(max(1, int(k)), MAX_K)
        self._settings_changed()

    def _settings_changed(self) -> None:
        self.status_bar.set_settings(self.mode, self.k)
        if self.config.remember_settings and self.config.settings_path is not None:
            self.save_settings(Settings(self.mode, self.k))

    @work(thread=True, exclusive=True, exit_on_error=False, group="settings")
    def save_settings(self, settings: Settings) -> None:
        save_settings(self.config.settings_path, settings)

    # ----------------------------------------------------------------- screenshots
    def deliver_screenshot(self, filename: str | None = None, path: str | None = None, time_format: str | None = None) -> str | None:
        """Save into a folder that exists: the configured one, ~/Downloads when there, else the current folder."""
        return super().deliver_screenshot(filename, path or str(self._screenshot_folder()), time_format)

    def _screenshot_folder(self) -> Path:
        if self.config.screenshot_dir is not None:
            folder = Path(self.config.screenshot_dir)
            folder.mkdir(parents=True, exist_ok=True)
            return folder
        import platformdirs

        downloads = Path(platformdirs.user_downloads_path())
        return downloads if downloads.is_dir() else Path.cwd()

    async def run_command(self, text: str) -> None:
        """Slash commands typed in the question box: /k N, /mode M, /rebuild, /export, /help."""
        name, _, arg = text[1:].strip().partition(" ")
        name, arg = name.lower(), arg.strip()
        if name == "k":
            if arg.isdigit() and 1 <= int(arg) <= MAX_K:
                self.set_k(int(arg))
                self.notify(f"k {self.k}: answers show {plural(self.k, 'passage')}.", markup=False)
            else:
                await self.note(f"/k needs a whole number from 1 to {MAX_K}, e.g. /k 8", "warning")
        elif name == "mode":
            if arg.lower() in MODES:
                self.set_mode(arg.lower())
                self.notify(f"Mode {self.mode}.", markup=False)
            else:
                await self.note("/mode needs one of hybrid, dense, bm25, e.g. /mode dense", "warning")
        elif name == "rebuild":
            self.action_rebuild()
        elif name == "export":
            self.action_export()
        elif name in ("help", "?"):
            await self.note(COMMANDS_HELP)
        else:
            await self.note(f"Unknown command /{name}. {COMMANDS_HELP}", "warning")

    # ----------------------------------------------------------------- command palette
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Rebuild index", "Update the index from the seeds folder (ctrl+r)", self.action_rebuild)
        yield SystemCommand("Export conversation", "Save the conversation as Markdown (ctrl+s)", self.action_export)
        yield SystemCommand("Copy passage", "Copy the selected passage as a Markdown quote (ctrl+y)", self.action_copy_passage)
        yield SystemCommand("Open source", "Show the file of the selected passage at the cited lines", self.action_open_source)
        yield SystemCommand("Options", "Search mode and passages per answer (ctrl+o)", self.action_options)
        for m in MODES:
            yield SystemCommand(f"Mode: {m}", f"Search by {m} from the next question on", lambda m=m: self.set_mode(m))
        for k in (1, 3, 5, 10, 20):
            yield SystemCommand(f"Passages per answer: {k}", f"Set k to {k}", lambda k=k: self.set_k(k))
        yield SystemCommand("Question box", "Move the focus to the question box", self.action_focus_question)


def make_app(index: str | os.PathLike, seeds: str | os.PathLike, **options: Any) -> RagApp:
    """The app for ``index`` and ``seeds``; ``options`` are :class:`AppConfig` fields."""
    return RagApp(AppConfig(Path(index), Path(seeds), **options))


def run(index: str | os.PathLike = os.path.join("indexes", "default"), seeds: str | os.PathLike = "seeds",
        watch: bool = True) -> int:
    """Open the app in the terminal; returns the exit status. ``watch``: follow the seeds folder."""
    app = make_app(index, seeds, watch=watch)
    app.run()
    return int(app.return_code or 0)
