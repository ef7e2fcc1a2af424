"""The open index: open it, warm the model, switch to newer versions, and check the seeds folder.

Opening and refreshing run in workers; the UI thread only swaps the retriever the workers opened.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from textual.worker import Worker

from rag.errors import IndexMissingError, RagError

from ..messages import IndexOpened, IndexRefreshFailed, ModelReady, SeedsChecked
from ..transcript import built_time, plural, short_path
from ..widgets.seeds_banner import SeedsBanner
from .base import Controller, one_line


class IndexKeeper(Controller):
    GROUPS = ("index", "model", "seeds")

    def __init__(self, app) -> None:
        super().__init__(app)
        self.retriever: Any = None  # the version that answers (None until one opens)
        self.error: str | None = None  # why no index could be opened, while none is
        self._newest: Any = None  # the newest retriever a worker opened (searches switch to it)
        self._lock = threading.Lock()
        self._auto_build_tried = False

    # ----------------------------------------------------------------- workers (compute, then post)
    def open(self, previous: Any = None) -> None:
        self.run(self._open, previous, group="index")

    def _open(self, previous: Any) -> None:
        self.app.post_message(IndexOpened(self.app.config.open(previous)))

    def refresh(self, current: Any) -> None:
        """Switch to a version built outside the app (``rag index`` in another shell), if any."""
        self.run(self._refresh, current, group="index")

    def _refresh(self, current: Any) -> None:
        with self._lock:
            fresh = self.app.config.refresh(current)
            if fresh is not current:
                self._newest = fresh
                self.app.post_message(IndexOpened(fresh))

    def newest(self, retriever: Any) -> Any:
        """In a search worker: the newest version to search (opened now if a build published one);
        when it does not open, ``retriever`` keeps answering and the user is told."""
        with self._lock:  # one switch even when several questions are in flight
            base = self._newest if self._newest is not None else retriever
            try:
                fresh = self.app.config.refresh(base)
            except RagError as exc:
                fresh = base
                self.app.post_message(IndexRefreshFailed(one_line(exc)))
            if fresh is not base:
                self._newest = fresh
                self.app.post_message(IndexOpened(fresh))
        return fresh

    def _warm_up(self, retriever: Any) -> None:
        retriever.search("warm up", k=1, mode="hybrid")
        self.app.post_message(ModelReady())

    def _check_seeds(self, manifest: dict) -> None:
        from rag.documents.changes import seeds_changes

        seeds = self.app.config.seeds
        root = str(manifest.get("seeds_root") or "")
        if not root or not seeds.is_dir():
            return
        if Path(root) != seeds.resolve():
            self.app.post_message(SeedsChecked(None, other_root=root))
            return
        self.app.post_message(SeedsChecked(seeds_changes(seeds, manifest, self.app.config.index)))

    # ----------------------------------------------------------------- their messages
    async def opened(self, r: Any) -> None:
        if r is self.retriever:
            return
        app = self.app
        rebuilt = self.retriever is not None
        self.retriever = r
        self._newest = r  # no lock here: the UI thread never waits for a worker's index load
        self.error = None
        info = r.info
        files, passages = plural(info.files, "file"), plural(info.passages, "passage")
        app.status_bar.set_index(f"{app.config.where} · {files} · {passages}")
        waiting = app.chat.take_waiting()
        if not waiting:  # a waiting question warms the model by itself
            app.status_bar.set_state("Loading the model…")
            self.run(self._warm_up, r, group="model")
        elif not app.builder.building:
            app.status_bar.set_state("Ready", "ready")
        if rebuilt:
            app.notify(f"Now answering from the new index: {files}, {passages}.", title="Index updated", markup=False)
            when = built_time(info.built_at)
            await self.note(f"Switched to the index built {'at ' + when if when else 'just now'} ({files}, {passages}).")
            app.passages.follow(r)
        app.query_one(SeedsBanner).hide()
        self.run(self._check_seeds, r.manifest, group="seeds")
        for ex in waiting:
            app.chat.search(ex)

    def model_ready(self) -> None:
        self.app.timings.setdefault("model_ready", time.perf_counter())
        if not self.app.builder.building:
            self.app.status_bar.set_state("Ready", "ready")

    def seeds_checked(self, message: SeedsChecked) -> None:
        banner = self.app.query_one(SeedsBanner)
        if message.other_root is not None:
            banner.show(
                f"This index was built from another folder ({short_path(message.other_root)}). "
                f"Press ctrl+r to rebuild it from {self.app.config.seeds_label}."
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
        self.app.notify(text, title="Seeds changed", severity="warning", markup=False)

    def refresh_failed(self, text: str) -> None:
        self.app.notify(
            f"{text}. Still answering from the version opened before.",
            title="The new index did not open",
            severity="warning",
            markup=False,
        )

    # ----------------------------------------------------------------- failures
    async def failed(self, worker: Worker, text: str) -> None:
        app, group, error = self.app, worker.group, worker.error
        if group == "model":
            app.status_bar.set_state("Model not loaded", "error")
            app.notify(text, title="The embedding model did not load", severity="error", markup=False)
        elif group == "seeds":
            app.notify(text, title="Cannot check the seeds folder", severity="warning", markup=False)
        elif isinstance(error, IndexMissingError) and self.retriever is None and not self._auto_build_tried:
            self._auto_build_tried = True
            await self.note(
                f"No index yet at {app.config.index_label}: building it from {app.config.seeds_label} "
                "(first run: the bar below shows each step). You can type your question meanwhile."
            )
            app.builder.start("Building the index")
        elif self.retriever is not None:  # the old index keeps answering
            app.status_bar.set_state("Ready (new index not opened)", "error")
            app.notify(text, title="The new index did not open", severity="error", markup=False)
        else:
            await self.note(f"{text}. Press ctrl+r to rebuild it from {app.config.seeds_label}.", "error")
            await self.no_index(text)

    async def no_index(self, text: str) -> None:
        """No index opened nor built: say so, and fail the questions that wait for one."""
        self.error = text
        self.app.status_bar.set_state("No index", "error")
        await self.app.chat.fail_waiting(f"no index to search: {text}")
