"""What every controller does: start thread workers on the app, and say a failure in one line."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.worker import Worker, WorkerState

from rag.errors import RagError

from ..highlight import SourceUnavailable
from ..widgets.log_note import Severity

if TYPE_CHECKING:
    from ..app import RagApp


def one_line(error: BaseException) -> str:
    """The error as one line for the user: rag errors say it themselves; others get their type."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(error, (RagError, SourceUnavailable)):
        return first or type(error).__name__
    return f"{type(error).__name__}: {first}"[:300] if first else type(error).__name__


class Controller:
    """One job of the app. Its workers run in threads on the app, in the groups named in
    ``GROUPS``; when one of them ends, the app hands it back to :meth:`worker_ended`."""

    GROUPS: tuple[str, ...] = ()

    def __init__(self, app: RagApp) -> None:
        self.app = app

    def run(self, work: Callable[..., Any], *args: Any, group: str, exclusive: bool = True) -> Worker:
        """``work(*args)`` in a thread worker; ``exclusive`` cancels the group's running one."""
        return self.app.run_worker(
            partial(work, *args), name=work.__name__, group=group, exclusive=exclusive, thread=True,
            exit_on_error=False,
        )

    async def worker_ended(self, worker: Worker, state: WorkerState) -> None:
        """A worker of this controller succeeded, failed or was cancelled."""
        if state == WorkerState.ERROR:
            error = worker.error
            await self.failed(worker, one_line(error) if error is not None else "unknown error")

    async def failed(self, worker: Worker, text: str) -> None:
        """What a failed worker means to the user (by default: a notification); ``text`` is its
        error in one line."""
        self.app.notify(text, title=f"{worker.group.capitalize()} failed", severity="error", markup=False)

    async def note(self, text: str, severity: Severity = "information") -> None:
        """A line in the conversation."""
        await self.app.log_view.add_note(text, severity)
