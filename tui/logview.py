"""The library's warnings (the ``rag`` logger) as notifications in the app, while it runs."""

from __future__ import annotations

import logging

from rag.log import attach, detach


def show_library_warnings(app) -> logging.Handler:
    """Show each warning the library logs as a notification of ``app`` (``App.notify`` is
    thread-safe: searches log from worker threads). Undo with :func:`stop_showing`."""
    return attach(lambda line: app.notify(line, title="Warning", severity="warning", markup=False))


def stop_showing(handler: logging.Handler) -> None:
    detach(handler)
