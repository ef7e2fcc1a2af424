"""Watch mode: follow the seeds folder (``watchfiles``) and turn each burst of saves into one update.

:func:`watch_seeds` calls ``on_change`` once per burst: after ``quiet_ms`` without a new change
(or after ``max_wait_ms`` of continuous changes). Hidden files and folders (editors' swap and
backup files, version control) are ignored, as the build ignores them, and so is the index folder.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

QUIET_MS = 500  # a burst ends after this long without a change
MAX_WAIT_MS = 5000  # ... or after this long, however busy the folder


def relevant(seeds: Path, index: Path | None, path: str) -> bool:
    """True when a change at ``path`` may change what the build indexes."""
    p = Path(path)
    try:
        rel = p.relative_to(seeds)
    except ValueError:
        try:
            rel = p.resolve().relative_to(seeds.resolve())
        except (ValueError, OSError):
            return False
    if any(part.startswith(".") or part.endswith("~") for part in rel.parts):
        return False
    if index is not None:
        try:
            p.resolve().relative_to(index.resolve())
            return False
        except (ValueError, OSError):
            pass
    return True


def watch_seeds(seeds: str | Path, on_change: Callable[[set[str]], None], *, index: str | Path | None = None,
                stop: threading.Event | None = None, quiet_ms: int = QUIET_MS, max_wait_ms: int = MAX_WAIT_MS,
                force_polling: bool | None = None) -> None:
    """Block, calling ``on_change(paths)`` after each burst of relevant changes, until ``stop`` is set."""
    from watchfiles import watch

    root = Path(seeds).absolute()
    idx = Path(index).absolute() if index is not None else None
    for changes in watch(root, watch_filter=lambda _c, p: relevant(root, idx, p), debounce=max_wait_ms, step=quiet_ms,
                         stop_event=stop, raise_interrupt=False, force_polling=force_polling):
        on_change({p for _c, p in changes})


def start_watcher(seeds: str | Path, on_change: Callable[[set[str]], None], *, index: str | Path | None = None,
                  quiet_ms: int = QUIET_MS) -> threading.Event:
    """Run :func:`watch_seeds` in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    t = threading.Thread(target=watch_seeds, args=(seeds, on_change), kwargs={"index": index, "stop": stop,
                         "quiet_ms": quiet_ms}, name="rag-watch", daemon=True)
    t.start()
    return stop
