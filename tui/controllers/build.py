"""Building the index: ctrl+r, the first run's build, and watch mode's updates after saves.

The build runs in a worker (questions keep using the open version meanwhile) and reports its
progress in messages that the bar above the status line shows.
"""

from __future__ import annotations

from textual.worker import Worker, WorkerState, get_current_worker

from rag.errors import SeedsError

from ..messages import BuildFinished, BuildProgressed, SeedsSaved
from ..widgets.build_progress import BuildProgress
from ..widgets.seeds_banner import SeedsBanner
from .base import Controller


class Builder(Controller):
    GROUPS = ("build",)

    def __init__(self, app) -> None:
        super().__init__(app)
        self.building = False
        self._saved_while_building = False
        self._watch_stop = None  # set() stops watching the seeds folder

    # ----------------------------------------------------------------- watch mode
    def start_watching(self) -> None:
        config = self.app.config
        if config.watch and config.seeds.is_dir():
            from rag.service.watch import start_watcher  # only in watch mode

            self._watch_stop = start_watcher(config.seeds, lambda _paths: self.app.post_message(SeedsSaved()),
                                             index=config.index)

    def stop_watching(self) -> None:
        if self._watch_stop is not None:
            self._watch_stop.set()

    def seeds_saved(self) -> None:
        """Watch mode: update the index after a burst of saves (once more after a running build)."""
        if self.building:
            self._saved_while_building = True
            return
        if self.app.index.retriever is not None:
            self.start("Updating the index (files changed)")

    # ----------------------------------------------------------------- building
    def rebuild(self) -> None:
        if self.building:
            self.app.notify("A rebuild is already running.", severity="warning", markup=False)
            return
        self.start("Rebuilding the index")

    def start(self, title: str) -> None:
        """Build in a worker; an index that did not open (damaged, other model) is rebuilt in full."""
        index = self.app.index
        self.building = True
        self.app.query_one(BuildProgress).start(title)
        self.app.status_bar.set_state(f"{title}…")
        self.run(self._build, index.retriever is None and index.error is not None, group="build")

    def _build(self, full: bool) -> None:
        cancel = get_current_worker().cancelled_event

        def progress(stage: str, done: int, total: int) -> None:
            self.app.post_message(BuildProgressed(stage, done, total))

        self.app.post_message(BuildFinished(self.app.config.run_build(progress, cancel, full)))

    def _ended(self) -> None:
        self.building = False
        self.app.query_one(BuildProgress).finish()

    def progressed(self, message: BuildProgressed) -> None:
        if self.building:
            self.app.query_one(BuildProgress).advance(message.stage, message.done, message.total)

    async def finished(self, stats) -> None:
        app, index = self.app, self.app.index
        first = index.retriever is None
        self._ended()
        for w in stats.warnings:
            app.notify(w, title="Rebuild warning", severity="warning", markup=False)
        summary = stats.summary()
        if stats.skipped:
            names = ", ".join(f"{s.source} ({s.reason})" for s in stats.skipped[:3])
            summary += f": {names}" + ("…" if len(stats.skipped) > 3 else "")
        if first:
            await self.note(f"Index ready: {summary}.")
        if stats.changed or first:
            app.status_bar.set_state("Opening the new index…")
            index.open(index.retriever)
        else:
            app.status_bar.set_state("Ready", "ready")
            app.query_one(SeedsBanner).hide()
            index.refresh(index.retriever)  # a version built outside the app is newer
        app.notify(summary, title="Index built" if first else "Rebuild finished", markup=False)
        if self._saved_while_building:
            self._saved_while_building = False
            app.post_message(SeedsSaved())

    # ----------------------------------------------------------------- failures
    async def worker_ended(self, worker: Worker, state: WorkerState) -> None:
        if state == WorkerState.CANCELLED:
            self._ended()
        await super().worker_ended(worker, state)

    async def failed(self, worker: Worker, text: str) -> None:
        app, index, error = self.app, self.app.index, worker.error
        self._ended()
        if type(error).__name__ == "BuildCancelled":  # by name: its module imports numpy
            app.notify(text, title="Rebuild cancelled", severity="warning", markup=False)
            return
        if isinstance(error, SeedsError):  # says what is wrong with the seeds and what to do
            app.notify(text, title="Cannot build the index", severity="error", markup=False)
            await self.note(text, "error")
        else:
            what = "Rebuild failed" if index.retriever is not None else "Building the index failed"
            app.notify(text, title=what, severity="error", markup=False)
            await self.note(f"{what}: {text}", "error")
        if index.retriever is None:
            await index.no_index(text)
