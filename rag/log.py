"""The library's warnings: records on the ``rag`` logger (children ``rag.encoder`` ...), never printed
by the library itself. The CLI and the UI attach a handler while they run (:func:`show_warnings`).

The library adds only a ``NullHandler`` to ``rag`` (so Python's last-resort handler stays quiet)
and changes no other logging state.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rag.terminal_text import terminal_line

LOGGER = "rag"


class CallbackHandler(logging.Handler):
    """Hands each record's message, as one safe line, to ``show`` (e.g. a UI notification)."""

    def __init__(self, show: Callable[[str], None], level: int = logging.WARNING) -> None:
        super().__init__(level)
        self._show = show

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._show(terminal_line(record.getMessage()))
        except Exception:  # noqa: BLE001 - logging's contract: a failing handler reports, never raises
            self.handleError(record)


@contextmanager
def show_warnings(show: Callable[[str], None] | None = None, stream: TextIO | None = None) -> Iterator[logging.Handler]:
    """While the block runs, show the library's warnings: through ``show``, or as one
    ``warning: ...`` line each on ``stream`` (default: the current ``sys.stderr``)."""
    if show is None:
        def show(line: str) -> None:
            print(f"warning: {line}", file=stream or sys.stderr, flush=True)

    handler = CallbackHandler(show)
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def attach(show: Callable[[str], None]) -> logging.Handler:
    """Attach a handler that passes warnings to ``show``; detach it with :func:`detach`."""
    handler = CallbackHandler(show)
    logging.getLogger(LOGGER).addHandler(handler)
    return handler


def detach(handler: logging.Handler) -> None:
    logging.getLogger(LOGGER).removeHandler(handler)
