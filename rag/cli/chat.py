"""``rag chat``: the terminal UI, found through an entry point (the library never imports it)."""

from __future__ import annotations

import argparse

from rag.cli.common import add_folder_options
from rag.errors import RagError

NAME = "chat"
UI_GROUP = "rag.ui"  # entry-point group where a terminal UI registers itself (pyproject.toml)


def add_parser(commands) -> None:
    sp = commands.add_parser(NAME, help="open the terminal UI")
    add_folder_options(sp)
    sp.add_argument("--no-watch", action="store_true", help="do not update the index when files in the seeds folder change")


def run(args: argparse.Namespace) -> int:
    from rag.service.memory import pin_malloc_thresholds  # loaded when the UI opens, not at start-up

    ui = _registered_ui()
    pin_malloc_thresholds()  # a long session swaps index versions too (watch, ctrl+r): see rag/service/memory.py
    return ui(index=args.index, seeds=args.seeds, watch=not args.no_watch)


def _registered_ui():
    """The terminal UI's ``run(index=, seeds=)``, found through the ``chat`` entry point of the
    ``rag.ui`` group (the tui package registers ``tui.app:run``): the library never imports the UI."""
    from importlib.metadata import entry_points  # reads the installed metadata: only for `rag chat`

    found = list(entry_points(group=UI_GROUP, name="chat"))
    if not found:
        raise RagError("the terminal UI is not installed: reinstall rag (`pip install -e .`) or run `python -m tui`")
    return found[0].load()
