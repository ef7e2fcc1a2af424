"""The long-running side of rag: one index, searched by many requests, updated in the background.

:class:`IndexService` holds a :class:`~rag.search.retriever.Retriever` per index version. A request
takes the current one (a single reference read) and searches it to the end, so it answers from one
complete version even when an update publishes another meanwhile; an update builds, opens the new
version (sharing the loaded query encoder), and only then swaps the reference. Searches never wait
for an update, and at most one update runs at a time (a request during one is queued once).

It is the live index of `rag serve`, `rag mcp`, `rag index --watch` and the terminal chat: the chat
creates it in a worker, hears the build's progress (``on_progress``), each update's end
(``on_update``) and the watch's state, and calls :meth:`refresh` before a question to switch to a
version built in another shell.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError, RagError
from rag.index.passages_io import passage_from_payload
from rag.service.build_job import UPDATE_TIMEOUT, build_in_subprocess, failure_message
from rag.service.memory import release_memory
from rag.types import BuildStats

if TYPE_CHECKING:
    from rag.search.results import SearchResult

log = logging.getLogger("rag.service")

RETRY_DELAY = 2.0  # seconds before a file that failed to read (mid-write, say) is tried once more


@dataclass(slots=True)
class UpdateState:
    """What the background update is doing, for ``/status``."""

    state: str = "idle"  # idle | updating | failed
    stage: str = ""
    done: int = 0
    total: int = 0
    started_at: str | None = None
    updates: int = 0  # updates finished since the service started
    last_summary: str | None = None
    last_error: str | None = None
    last_finished_at: str | None = None
    skipped: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "state": self.state,
            "stage": self.stage,
            "done": self.done,
            "total": self.total,
            "started_at": self.started_at,
            "updates": self.updates,
            "last_summary": self.last_summary,
            "last_error": self.last_error,
            "last_finished_at": self.last_finished_at,
            "skipped": list(self.skipped),
        }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class IndexService:
    """One index and its seeds folder, served. Thread-safe.

    ``build`` (default :func:`rag.indexing.build.build_index`) and ``encoder`` are seams for tests.
    ``on_update(stats, error)`` is called after each update (`rag index --watch` prints it);
    ``on_progress(stage, done, total)`` hears every build's steps, ("starting", 0, 0) first;
    ``warm_swaps``: a new version loads its query encoder before it becomes current (a server's
    first search then loads nothing; `rag index --watch` searches nothing and leaves it off).
    ``rebuild``: build the index in full before opening it (one that does not open: damaged);
    ``cancel``: setting it stops a running build (:meth:`close` sets it). A missing index built here
    leaves its statistics in :attr:`built`.
    """

    def __init__(self, index: str | Path, seeds: str | Path, *, encoder=None, build=None, build_missing: bool = True,
                 retry_delay: float = RETRY_DELAY, update_timeout: float = UPDATE_TIMEOUT,
                 on_update: Callable[[BuildStats | None, str | None], None] | None = None,
                 on_progress: Callable[[str, int, int], None] | None = None,
                 warm_swaps: bool = True, rebuild: bool = False, cancel: threading.Event | None = None) -> None:
        from rag.search.retriever import Retriever  # numpy and faiss load with an index: the chat imports this module at start

        self.index = Path(index)
        self.seeds = Path(seeds)
        self._encoder = encoder
        self._build_fn = build
        self._retry_delay = retry_delay
        self._update_timeout = update_timeout
        self._on_update = on_update
        self._on_progress = on_progress
        self._warm_swaps = warm_swaps
        self._cancel = cancel or threading.Event()
        self._on_watch_state: Callable[[str], None] | None = None
        self._lock = threading.Lock()
        self._swap_lock = threading.Lock()  # one version opened at a time (an update, or refresh)
        self._state = UpdateState()
        self._thread: threading.Thread | None = None
        self._pending = False
        self._idle = threading.Event()
        self._idle.set()
        self._search_failure: tuple[object, str] | None = None  # (retriever, why) of the last failed search
        self._watch: dict | None = None  # {"state": ..., "since": ...} once watching was asked for
        self._watch_stop: threading.Event | None = None
        self.built: BuildStats | None = None  # the build that made a missing (or rebuilt) index here
        if rebuild:
            self.built = self._run_build(full=True)
        try:
            self._retriever = Retriever.open(self.index, encoder=encoder)
        except IndexMissingError:
            if not build_missing:
                raise
            self.built = self._run_build()
            self._retriever = Retriever.open(self.index, encoder=encoder)

    # ----------------------------------------------------------------- reading
    @property
    def retriever(self):
        """The retriever of the current version (one reference read: atomic)."""
        return self._retriever

    @property
    def seeds_root(self) -> Path:
        """The folder the index was built from (documents are read from there)."""
        return Path(self._retriever.manifest.get("seeds_root") or self.seeds)

    def warm(self) -> None:
        """Load the query encoder now, so the first request does not pay for it."""
        self._retriever.encoder()

    def search(self, question: str, k: int = 5, mode: str = "hybrid", history: list[str] | None = None,
               history_answers: list[str | None] | None = None) -> dict:
        """The object of `rag ask --json`, plus ``version``: the index version that answered.
        ``history_answers``: the answer shown for each earlier question (see :meth:`Retriever.search`)."""
        return self.ask(question, k, mode, history, history_answers).to_dict(public=True)

    def ask(self, question: str, k: int = 5, mode: str = "hybrid", history: list[str] | None = None,
            history_answers: list[str | None] | None = None) -> SearchResult:
        """:meth:`Retriever.ask` on the current version (the terminal chat renders it whole)."""
        r = self._retriever
        try:
            out = r.ask(question, k, mode, history=history or [], history_answers=history_answers)
        except (OSError, RagError) as exc:
            if r is self._retriever:
                if isinstance(exc, (OSError, IndexCorruptError, IndexMismatchError, IndexMissingError)):
                    self._search_failure = (r, str(exc))  # the index's fault, not the question's: /health says so
                raise
            # the version was retired under this request: answer from the new one
            return self._retriever.ask(question, k, mode, history=history or [], history_answers=history_answers)
        failure = self._search_failure
        if failure is not None and failure[0] is r:
            self._search_failure = None
        return out

    def health(self) -> str | None:
        """None when the current version can be searched; else why not, in one line.

        Unhealthy when the last search of this version failed for the index's fault (a damaged
        file), or when the first and last passages cannot be read back: a cheap look, not
        `rag status --verify`, which reads every file.
        """
        r = self._retriever
        failure = self._search_failure
        if failure is not None and failure[0] is r:
            return failure[1]
        n = len(r.passages)
        try:
            for pos in sorted({0, n - 1}) if n else ():
                passage_from_payload(r.index.payload_at(pos), str(r.version_dir))
        except (OSError, RagError) as exc:
            return str(exc)
        return None

    def status(self) -> dict:
        """What is indexed, what changed in the seeds folder since, which encoder, the update's progress,
        and the watch of the seeds folder (None unless :meth:`start_watching`)."""
        # The seeds probes (6 ms of imports) load with the first status, not with the chat's first frame.
        from rag.documents.changes import seeds_changes
        from rag.documents.freshness import seeds_may_have_changed

        r = self._retriever
        info = r.info
        changes = None
        root = self.seeds_root
        if root.is_dir():
            changes = {"added": [], "modified": [], "removed": []}
            if seeds_may_have_changed(root, r.manifest):
                try:
                    ch = seeds_changes(root, r.manifest, self.index)
                    changes = {"added": ch.added, "modified": ch.modified, "removed": ch.removed}
                except (RagError, OSError) as exc:
                    changes = {"error": str(exc)}
        enc = r._encoder
        with self._lock:
            update = self._state.to_dict()
            watch = dict(self._watch) if self._watch is not None else None
        return {
            "index": str(self.index),
            "version": info.version,
            "built_at": info.built_at,
            "files": info.files,
            "passages": info.passages,
            "model": info.model,
            "dense": info.dense_kind,
            "seeds_root": info.seeds_root,
            "query_encoder": type(enc).__name__ if enc is not None else "not loaded yet",
            "skipped": {s: v.get("reason") for s, v in r.manifest.get("skipped_files", {}).items()},
            "changes": changes,
            "update": update,
            "watch": watch,
        }

    # ----------------------------------------------------------------- watching
    def start_watching(self, settings=None, on_state: Callable[[str], None] | None = None,
                       catch_up: bool = True) -> None:
        """Follow the seeds folder: an update after each burst of saves, and (``catch_up``) one as soon
        as the watch runs, for changes made while nothing watched (the chat shows them instead, and
        leaves it off). ``settings``: a :class:`~rag.service.watch.WatchSettings` (its ``catch_up``
        is replaced); ``on_state(state)`` hears each change of the watch's state ("watching" once it
        runs, "waiting for the folder", "stopped: why")."""
        from rag.service.watch import WatchSettings, start_watcher  # the watcher loads only in watch mode

        with self._lock:
            if self._watch_stop is not None:
                return
            self._watch = {"state": "starting", "since": _now()}
            self._on_watch_state = on_state
        settings = replace(settings or WatchSettings(), catch_up=catch_up)
        self._watch_stop = start_watcher(self.seeds, lambda _paths: self.start_update(), index=self.index,
                                         settings=settings, on_state=self._watch_state)

    def stop_watching(self) -> None:
        """Stop following the seeds folder (the watch reports "stopped")."""
        stop, self._watch_stop = self._watch_stop, None
        if stop is not None:
            stop.set()

    def close(self) -> None:
        """Stop watching and stop a running build (the index stays as it was); for good: a later
        build stops at once too."""
        self.stop_watching()
        self._cancel.set()

    def _watch_state(self, state: str) -> None:
        if state.startswith("stopped: "):
            log.warning("the watch of the seeds folder %s", state)
        with self._lock:
            self._watch = {"state": state, "since": _now()}
            listener = self._on_watch_state
        if listener is not None:
            listener(state)

    # ----------------------------------------------------------------- updating
    def start_update(self) -> bool:
        """Start an incremental update in a background thread; returns at once.

        True when one was started; False when one is running (it is then run once more after it,
        so that changes made during it are not missed).
        """
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._pending = True
                return False
            self._idle.clear()
            self._begin()
            self._thread = threading.Thread(target=self._update_loop, name="rag-update", daemon=True)
            self._thread.start()
            return True

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no update runs (for tests and tools); True when idle."""
        return self._idle.wait(timeout)

    def refresh(self) -> bool:
        """Switch to a version built outside this service (`rag index` in another shell), if there
        is one; True when it switched. Raises the error of a newer version that does not open (the
        current one keeps answering). Cheap when nothing changed (one small file read)."""
        return not self._retriever.is_current() and self._swap()

    def _begin(self) -> None:
        """An update is to start (called with the lock held)."""
        self._state.state, self._state.stage, self._state.started_at = "updating", "starting", _now()
        self._state.done = self._state.total = 0

    def _progress(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            self._state.stage, self._state.done, self._state.total = stage, done, total
        if self._on_progress is not None:
            self._on_progress(stage, done, total)

    def _run_build(self, full: bool = False) -> BuildStats:
        build = self._build_fn
        kwargs = {"progress": self._progress, "lock_wait": 30.0, "cancel": self._cancel}
        if full:
            kwargs["rebuild"] = True
        if self._encoder is not None:
            kwargs["encoder"] = self._encoder
            if build is None:
                from rag.indexing.build import build_index as build  # heavy: the chat imports this module at start
        elif build is None:
            # The bundled model builds in a child process: the server's memory stays that of searching.
            build = build_in_subprocess
            kwargs["timeout"] = self._update_timeout
        else:
            kwargs["export_query_encoder"] = "background"
        return build(self.seeds, self.index, **kwargs)

    def _update_loop(self) -> None:
        try:
            while True:
                self._update_once()
                with self._lock:
                    if not self._pending:
                        break
                    self._pending = False
                    self._begin()
        finally:
            with self._lock:
                if self._state.state == "updating":
                    self._state.state = "idle"
                self._state.stage = ""  # no stage runs now ("starting" stayed after an update, issue 23)
                self._idle.set()

    def _update_once(self) -> None:
        if self._on_progress is not None:
            self._on_progress("starting", 0, 0)
        before = {s for s in self._retriever.manifest.get("skipped_files", {})}
        try:
            stats = self._run_build()
            failing = {s.source for s in stats.skipped if not s.reason.startswith("unsupported")} - before
            if failing and self._retry_delay >= 0:
                # A file that failed to read may be mid-write: try once more a moment later.
                time.sleep(self._retry_delay)
                stats = self._run_build()
            if stats.changed or not self._retriever.is_current():
                self._swap()
        except (RagError, OSError) as exc:
            why = failure_message(exc)
            log.warning("the index update failed: %s", why)
            with self._lock:
                self._state.state, self._state.last_error, self._state.last_finished_at = "failed", why, _now()
            if self._on_update is not None:
                self._on_update(None, why)
            return
        with self._lock:
            self._state.updates += 1
            self._state.state = "idle"
            self._state.last_summary = stats.summary()
            self._state.last_error = None
            self._state.last_finished_at = _now()
            self._state.skipped = [{"source": s.source, "reason": s.reason} for s in stats.skipped]
        if self._on_update is not None:
            self._on_update(stats, None)

    def _swap(self) -> bool:
        """Open the newest version (sharing the loaded encoder), then make it the current one; True
        when there was a newer one."""
        from rag.search.retriever import Retriever  # as in __init__: loaded with an index, not with this module

        with self._swap_lock:
            try:
                new = self._retriever.refreshed()
            except IndexMismatchError:
                if self._encoder is not None:
                    raise
                new = Retriever.open(self.index)  # the new version was built with another model: load that one
            if new is self._retriever:
                return False
            if self._warm_swaps and self._encoder is None and new._encoder is None:
                new.encoder()  # first search on the new version does not load anything
            old, self._retriever = self._retriever, new  # one assignment: every later request sees the new version, whole
        del old
        release_memory()
        return True
