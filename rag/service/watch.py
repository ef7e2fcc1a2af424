"""Watch mode: follow the seeds folder (``watchfiles``) and turn each burst of saves into one update.

:func:`watch_seeds` calls ``on_change`` once per burst: after ``quiet_ms`` without a new change
(or after ``max_wait_ms`` of continuous changes). Hidden files and folders (editors' swap and
backup files, version control) are ignored, as the build ignores them, and so is the index folder.

The watch survives the folder itself: when it vanishes (``rm -rf seeds``) or is replaced by
another (``rm -rf seeds; cp -a seeds.bak seeds``), the watch waits for a folder to be there again,
watches it anew and calls ``on_change`` once, since anything may have changed meanwhile. Its state
("watching", "waiting for the folder", "stopped: why") goes to ``on_state``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("rag.service")

QUIET_MS = 500  # a burst ends after this long without a change
MAX_WAIT_MS = 5000  # ... or after this long, however busy the folder
CHECK_MS = 500  # how often the watch checks that its folder is still the one it watches


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """How the seeds folder is watched."""

    quiet_ms: int = QUIET_MS
    max_wait_ms: int = MAX_WAIT_MS
    check_ms: int = CHECK_MS  # also how often a vanished folder is looked for
    force_polling: bool | None = None  # None: watchfiles decides (inotify on Linux)
    catch_up: bool = False  # call on_change once as soon as the watch runs (changes made while nothing watched)


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


def _identity(root: Path) -> tuple[int, int] | None:
    """The folder at ``root`` (device, inode), or None when there is none."""
    try:
        st = os.stat(root)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if Path(root).is_dir() else None


def watch_seeds(seeds: str | Path, on_change: Callable[[set[str]], None], *, index: str | Path | None = None,
                stop: threading.Event | None = None, quiet_ms: int = QUIET_MS, max_wait_ms: int = MAX_WAIT_MS,
                force_polling: bool | None = None, settings: WatchSettings | None = None,
                on_state: Callable[[str], None] | None = None) -> None:
    """Block, calling ``on_change(paths)`` after each burst of relevant changes, until ``stop`` is set.

    ``settings``, when given, replaces ``quiet_ms``, ``max_wait_ms`` and ``force_polling``.
    """
    from watchfiles import Change, watch  # the watcher loads only in watch mode

    s = settings or WatchSettings(quiet_ms=quiet_ms, max_wait_ms=max_wait_ms, force_polling=force_polling)
    stop = stop or threading.Event()
    report = on_state or (lambda _state: None)
    root = Path(seeds).absolute()
    idx = Path(index).absolute() if index is not None else None
    owed = s.catch_up  # an on_change owed as soon as the watch runs
    why = "stopped"
    try:
        while not stop.is_set():
            ident = _identity(root)
            if ident is None:
                report("waiting for the folder")
                while ident is None and not stop.wait(s.check_ms / 1000):
                    ident = _identity(root)
                if ident is None:
                    break
                owed = True  # the folder is back: whatever it holds now is to be indexed
            running = False
            try:
                for changes in watch(root, watch_filter=lambda _c, p: relevant(root, idx, p), debounce=s.max_wait_ms,
                                     step=s.quiet_ms, stop_event=stop, raise_interrupt=False,
                                     force_polling=s.force_polling, rust_timeout=s.check_ms, yield_on_timeout=True):
                    if not running:
                        running = True
                        report("watching")
                    if _identity(root) != ident or any(c == Change.deleted and Path(p) == root for c, p in changes):
                        owed = True  # gone or replaced (a new folder may reuse the inode): watch whatever is next
                        break
                    if owed or changes:
                        owed = False
                        on_change({p for _c, p in changes} or {str(root)})
            except (OSError, RuntimeError) as exc:  # watchfiles raises when its folder vanishes as it starts
                log.warning("the watch of %s stopped (%s); watching again", root, exc)
                owed = True
                stop.wait(s.check_ms / 1000)
    except BaseException as exc:
        why = f"stopped: {' '.join(str(exc).split()) or type(exc).__name__}"
        raise
    finally:
        report(why)


def start_watcher(seeds: str | Path, on_change: Callable[[set[str]], None], *, index: str | Path | None = None,
                  quiet_ms: int = QUIET_MS, settings: WatchSettings | None = None,
                  on_state: Callable[[str], None] | None = None) -> threading.Event:
    """Run :func:`watch_seeds` in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    t = threading.Thread(target=watch_seeds, args=(seeds, on_change), kwargs={"index": index, "stop": stop,
                         "quiet_ms": quiet_ms, "settings": settings, "on_state": on_state},
                         name="rag-watch", daemon=True)
    t.start()
    return stop
