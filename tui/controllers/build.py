"""Building the index: ctrl+r, the first run's build, and the updates of the watched seeds folder.

The live index builds (:mod:`tui.controllers.index`; questions keep using the open version
meanwhile); its progress comes in messages that the bar above the status line shows.
"""

from __future__ import annotations

from textual.worker import Worker, WorkerState

from rag.errors import SeedsError

from ..messages import BuildProgressed
from ..widgets.build_progress import BuildProgress
from ..widgets.seeds_banner import SeedsBanner
from .base import Controller


class Builder(Controller):
    GROUPS = ("build",)

    def __init__(self, app) -> None:
        super().__init__(app)
        self.building = False

    # ----------------------------------------------------------------- building
    def rebuild(self) -> None:
        if self.building:
            self.app.notify("A rebuild is already running.", severity="warning", markup=False)
            return
        self.start("Rebuilding the index")

    def start(self, title: str) -> None:
        """Update the live index; open it building it first when it is not open (an index that did
        not open, damaged or of another model, is rebuilt in full)."""
        index = self.app.index
        self._started(title)
        if index.service is None:
            index.open(build=True, rebuild=index.error is not None)
        else:
            index.service.start_update()  # returns at once: the service builds in its own thread

    def _started(self, title: str) -> None:
        self.building = True
        self.app.query_one(BuildProgress).start(title)
        self.app.status_bar.set_state(f"{title}…")

    def _ended(self) -> None:
        self.building = False
        self.app.query_one(BuildProgress).finish()

    def progressed(self, message: BuildProgressed) -> None:
        if not self.building:  # the watch started it: a burst of saves ended
            self._started("Updating the index (files changed)")
        if message.stage != "starting":
            self.app.query_one(BuildProgress).advance(message.stage, message.done, message.total)

    async def finished(self, stats, error: str | None) -> None:
        """A build ended (``error``: why it failed); the live index answers from its result."""
        app, index = self.app, self.app.index
        first = index.retriever is None
        self._ended()
        if error is not None:
            app.notify(error, title="Rebuild failed", severity="error", markup=False)
            await self.note(f"Rebuild failed: {error}", "error")
            app.status_bar.set_state("Ready", "ready")
            return
        for w in stats.warnings:
            app.notify(w, title="Rebuild warning", severity="warning", markup=False)
        summary = stats.summary()
        if stats.skipped:
            names = ", ".join(f"{s.source} ({s.reason})" for s in stats.skipped[:3])
            summary += f": {names}" + ("…" if len(stats.skipped) > 3 else "")
        if first:
            await self.note(f"Index ready: {summary}.")
        app.notify(summary, title="Index built" if first else "Rebuild finished", markup=False)
        if index.service.retriever is not index.retriever:
            await index.show(index.service.retriever)
        else:
            app.status_bar.set_state("Ready", "ready")
            app.query_one(SeedsBanner).hide()

    # ----------------------------------------------------------------- failures (of the first build)
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
