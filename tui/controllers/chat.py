"""The conversation: questions asked, their searches in workers, and the answer cards they fill.

A question asked before an index is open waits for it; the questions asked before (this run and
earlier ones) are kept in the history file and walked with up/down in the question box.
"""

from __future__ import annotations

import time

from textual.worker import Worker, WorkerState

from ..commands import run_slash_command
from ..highlight import marks_for, only_common_words
from ..history import History
from ..messages import HistoryLoaded, SearchCompleted
from ..transcript import Exchange, shown_answer
from ..widgets.answer_card import AnswerCard
from ..widgets.passage_view import PassageView
from .base import Controller


def search_note(exchange: Exchange, found: bool, follow_up: bool, common_words_only: bool) -> str | None:
    """A remark for the card: how a follow-up was read, or why the passages may not fit."""
    if found and exchange.history and follow_up:
        shown = " and the last answer shown" if exchange.shown and exchange.shown[-1] else ""
        return f"Read as a follow-up: searched with the earlier questions{shown}."
    if common_words_only:
        if exchange.mode == "bm25":
            return "Only common words (stopwords) in this question: bm25 has nothing to match. Try hybrid or dense mode."
        return "Only common words (stopwords) in this question: these passages were found by meaning alone."
    if not found:
        return "No passage contains these words. Try other words, or the hybrid or dense mode (ctrl+o)."
    return None


class Conversation(Controller):
    GROUPS = ("search", "history", "history-save")

    def __init__(self, app) -> None:
        super().__init__(app)
        self.exchanges: list[Exchange] = []
        self.history = History(app.config.history_path)
        self._waiting: list[Exchange] = []  # asked before an index was open
        self._searches: dict[Worker, int] = {}  # running search -> its exchange's id
        self._history_warned = False

    # ----------------------------------------------------------------- questions asked before
    def load_history(self) -> None:
        self.run(self._load_history, group="history")

    def _load_history(self) -> None:
        self.app.post_message(HistoryLoaded(self.history.load()))

    def _save_question(self, question: str) -> None:
        self.history.append(question)

    # ----------------------------------------------------------------- asking
    async def submitted(self, value: str) -> None:
        """Enter in the question box: ask the question, or run the slash command."""
        text = value.strip()
        if not text:
            self.app.notify("Type a question first.", severity="warning", markup=False)
            return
        self.app.question_box.clear()
        if text.startswith("/"):
            await run_slash_command(self.app, text)
        else:
            await self.ask(text)

    async def ask(self, text: str) -> None:
        app = self.app
        app.question_box.remember(text)
        self.run(self._save_question, text, group="history-save", exclusive=False)
        ex = Exchange(len(self.exchanges) + 1, text, app.options.mode, app.options.k,
                      history=tuple(e.question for e in self.exchanges),
                      shown=tuple(shown_answer(e) for e in self.exchanges))
        self.exchanges.append(ex)
        card = await app.log_view.add_exchange(ex)
        index, building = app.index, app.builder.building
        if index.retriever is not None:
            self.search(ex)
        elif index.error is not None and not building:
            await self._fail(ex, f"no index to search: {index.error}. Press ctrl+r to rebuild.")
        else:
            self._waiting.append(ex)
            card.show_waiting("Waiting for the index to be built…" if building else "Waiting for the index to open…")

    def take_waiting(self) -> list[Exchange]:
        """The questions that waited for an index (the caller searches or fails them)."""
        waiting, self._waiting = self._waiting, []
        return waiting

    async def fail_waiting(self, text: str) -> None:
        for ex in self.take_waiting():
            await self._fail(ex, text)

    def search(self, ex: Exchange) -> None:
        card = self.app.log_view.card(ex.id)
        if card is not None:
            card.show_waiting("Searching…")
        worker = self.run(self._search, ex, group="search", exclusive=False)
        self._searches[worker] = ex.id

    def _search(self, exchange: Exchange) -> None:
        index = self.app.index
        index.follow_newest()
        result = index.service.ask(exchange.question, k=exchange.k, mode=exchange.mode, history=list(exchange.history),
                                   history_answers=list(exchange.shown) if exchange.shown else None)
        hits = result.hits
        cache: dict[str, bool] = {}
        marks = [marks_for(h, cache) for h in hits]
        note = search_note(exchange, bool(hits), result.follow_up.depends, only_common_words(exchange.question))
        self.app.post_message(SearchCompleted(exchange.id, hits, marks, note))

    async def completed(self, message: SearchCompleted) -> None:
        app = self.app
        ex = self.exchanges[message.exchange_id - 1]
        ex.hits, ex.marks, ex.note = message.hits, message.marks, message.note
        card = app.log_view.card(ex.id)
        if card is None:
            return
        await card.show_result()
        app.timings.setdefault("first_answer", time.perf_counter())
        if self.latest_answered() is ex:
            self._activate(card)
            app.passages.selected = ex.hits[0] if ex.hits else None
            app.log_view.reveal(card)

    def latest_answered(self) -> Exchange | None:
        for ex in reversed(self.exchanges):
            if ex.hits is not None:
                return ex
        return None

    def _activate(self, latest: AnswerCard) -> None:
        for card in self.app.log_view.cards:
            card.set_active(card is latest)
        focused = self.app.focused
        if isinstance(focused, PassageView) and not focused.can_focus:
            self.app.question_box.focus()

    async def _fail(self, ex: Exchange, text: str) -> None:
        ex.error = text
        card = self.app.log_view.card(ex.id)
        if card is not None:
            await card.show_error(text)

    # ----------------------------------------------------------------- failures
    async def worker_ended(self, worker: Worker, state: WorkerState) -> None:
        await super().worker_ended(worker, state)
        self._searches.pop(worker, None)

    async def failed(self, worker: Worker, text: str) -> None:
        if worker.group == "search":
            exchange_id = self._searches.get(worker)
            if exchange_id is not None:
                await self._fail(self.exchanges[exchange_id - 1], text)
        elif worker.group == "history-save":
            if not self._history_warned:
                self._history_warned = True
                self.app.notify(text, title="History not saved", severity="warning", markup=False)
        else:
            await super().failed(worker, text)
