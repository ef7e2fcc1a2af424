"""The live index (:class:`rag.service.state.IndexService`, the one of `rag serve` and `rag mcp`):
open it, build it on the first run, follow the seeds folder, show newer versions, check the seeds.

Opening (and the first build) runs in a worker; the service updates in its own thread, and its
listeners only post messages; the UI thread only shows the version the service answers from.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from textual.worker import Worker

from rag.errors import IndexMissingError, RagError
from rag.service.state import IndexService

from ..messages import (
    BuildFinished,
    BuildProgressed,
    IndexOpened,
    IndexRefreshFailed,
    ModelReady,
    SeedsChecked,
    WatchChanged,
)
from ..transcript import built_time, plural, short_path
from ..widgets.seeds_banner import SeedsBanner
from .base import Controller, one_line


class IndexKeeper(Controller):
    GROUPS = ("index", "model", "seeds")

    def __init__(self, app) -> None:
        super().__init__(app)
        self.service: IndexService | None = None  # the live index, once it opened
        self.retriever: Any = None  # the version the user was told answers (None until one opens)
        self.error: str | None = None  # why no index could be opened, while none is
        self._cancel = threading.Event()  # set when the app closes: a running build stops
        self._auto_build_tried = False

    # ----------------------------------------------------------------- workers (compute, then post)
    def open(self, build: bool = False, rebuild: bool = False) -> None:
        """Open the live index in a worker; ``build``: build it first if missing (the build's
        worker then, whose progress the bar shows); ``rebuild``: in full (it did not open)."""
        self.run(self._open, build, rebuild, group="build" if build else "index")

    def _open(self, build: bool, rebuild: bool) -> None:
        config, post = self.app.config, self.app.post_message
        service = IndexService(
            config.index, config.seeds, encoder=config.encoder, build=config.build, build_missing=build,
            rebuild=rebuild, cancel=self._cancel, on_progress=lambda *step: post(BuildProgressed(*step)),
            on_update=lambda stats, error: post(BuildFinished(stats, error)),
        )
        post(IndexOpened(service.retriever, service))
        if config.watch and not self._cancel.is_set():  # changes made while nothing watched: the banner says
            service.start_watching(on_state=lambda state: post(WatchChanged(state)), catch_up=False)

    def close(self) -> None:
        """The app closes: stop watching and stop a running build."""
        self._cancel.set()
        if self.service is not None:
            self.service.close()

    def follow_newest(self) -> None:
        """In a search worker: switch to a version built in another shell, if any; when it does not
        open, the open one keeps answering and the user is told."""
        service = self.service
        try:
            if service.refresh():
                self.app.post_message(IndexOpened(service.retriever))
        except RagError as exc:
            self.app.post_message(IndexRefreshFailed(one_line(exc)))

    def _warm_up(self, retriever: Any) -> None:
        retriever.search("warm up", k=1, mode="hybrid")
        self.app.post_message(ModelReady())

    def _check_seeds(self, manifest: dict) -> None:
        from rag.documents.changes import seeds_changes  # 6 ms of imports, kept off the first frame

        seeds = self.app.config.seeds
        root = str(manifest.get("seeds_root") or "")
        if not root or not seeds.is_dir():
            return
        if Path(root) != seeds.resolve():
            self.app.post_message(SeedsChecked(None, other_root=root))
            return
        self.app.post_message(SeedsChecked(seeds_changes(seeds, manifest, self.app.config.index)))

    # ----------------------------------------------------------------- their messages
    async def opened(self, message: IndexOpened) -> None:
        service = message.service
        if service is not None:
            self.service = service
            if service.built is not None:  # built here first: the build's end says what it built
                await self.app.builder.finished(service.built, None)
                return
        await self.show(message.retriever)

    async def show(self, r: Any) -> None:
        """``r`` answers now: say so (a new version: in the conversation too)."""
        if r is self.retriever:
            return
        app = self.app
        rebuilt = self.retriever is not None
        self.retriever = r
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

    def watch_changed(self, state: str) -> None:
        """The watch of the seeds folder, on the status line."""
        seeds = self.app.config.seeds_label
        if state == "watching":
            self.app.status_bar.set_watch(f"watching {seeds}", "ready")
        elif state == "waiting for the folder":
            self.app.status_bar.set_watch(f"{seeds} is gone: waiting for it", "busy")
        elif state.startswith("stopped: "):
            self.app.status_bar.set_watch(f"not watching {seeds}: {state.removeprefix('stopped: ')}", "error")
        elif state == "stopped":
            self.app.status_bar.set_watch("")
        else:
            self.app.status_bar.set_watch(f"{state} {seeds}", "busy")

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
        self.app.notify(f"{text}. Still answering from the version opened before.",
                        title="The new index did not open", severity="warning", markup=False)

    # ----------------------------------------------------------------- failures
    async def failed(self, worker: Worker, text: str) -> None:
        app, group, error = self.app, worker.group, worker.error
        if group == "model":
            app.status_bar.set_state("Model not loaded", "error")
            app.notify(text, title="The embedding model did not load", severity="error", markup=False)
        elif group == "seeds":
            app.notify(text, title="Cannot check the seeds folder", severity="warning", markup=False)
        elif isinstance(error, IndexMissingError) and not self._auto_build_tried:
            self._auto_build_tried = True
            await self.note(
                f"No index yet at {app.config.index_label}: building it from {app.config.seeds_label} "
                "(first run: the bar below shows each step). You can type your question meanwhile."
            )
            app.builder.start("Building the index")
        else:
            await self.note(f"{text}. Press ctrl+r to rebuild it from {app.config.seeds_label}.", "error")
            await self.no_index(text)

    async def no_index(self, text: str) -> None:
        """No index opened nor built: say so, and fail the questions that wait for one."""
        self.error = text
        self.app.status_bar.set_state("No index", "error")
        await self.app.chat.fail_waiting(f"no index to search: {text}")
