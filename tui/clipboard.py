"""Copying text where the user can paste it: a system clipboard tool when one is there, else a file.

The app also sends the text to the terminal (OSC 52), but nothing tells it whether the terminal
took it (tmux's default ``set-clipboard external`` and many terminals ignore it); so the quote is
also copied with ``wl-copy``/``xclip``/``xsel``/``pbcopy`` when available, or written to a file
whose name the app shows. No UI code here; the app calls :func:`deliver` from a worker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

QUOTE_FILE = "copied-passage.md"

# (command, environment variable that must be set for it to reach a clipboard, or None)
SYSTEM_TOOLS: tuple[tuple[tuple[str, ...], str | None], ...] = (
    (("wl-copy",), "WAYLAND_DISPLAY"),
    (("xclip", "-selection", "clipboard"), "DISPLAY"),
    (("xsel", "--clipboard", "--input"), "DISPLAY"),
    (("pbcopy",), None if sys.platform == "darwin" else "__RAG_NEVER__"),
    (("clip.exe",), None),
)


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where the text went: the system tool that took it (its name), and/or the file holding it."""

    tool: str | None = None
    file: Path | None = None


def available_tools() -> list[tuple[str, ...]]:
    """The clipboard commands that can work here (installed, and their display is set)."""
    out = []
    for cmd, env in SYSTEM_TOOLS:
        if env is not None and not os.environ.get(env):
            continue
        if shutil.which(cmd[0]):
            out.append(cmd)
    return out


def copy_with_tool(text: str, commands: list[tuple[str, ...]]) -> str | None:
    """Pipe ``text`` into the first command that accepts it; its name, or None when none did."""
    data = text.encode("utf-8")
    for cmd in commands:
        exe = shutil.which(cmd[0])
        if exe is None:
            continue
        try:
            # xclip/xsel stay running to serve the selection: do not wait on their output pipes.
            subprocess.run(
                [exe, *cmd[1:]], input=data, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                timeout=5, check=True,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        return Path(cmd[0]).name
    return None


def write_quote(text: str, folder: Path | None) -> Path:
    """Write ``text`` to :data:`QUOTE_FILE` in ``folder`` (or the temporary folder when that fails)."""
    last: OSError | None = None
    for place in ([Path(folder)] if folder is not None else []) + [Path(tempfile.gettempdir())]:
        try:
            place.mkdir(parents=True, exist_ok=True)
            path = place / QUOTE_FILE
            path.write_text(text, encoding="utf-8")
            return path
        except OSError as exc:
            last = exc
    assert last is not None
    raise last


def deliver(text: str, folder: Path | None, commands: list[tuple[str, ...]] | None = None) -> Delivery:
    """Copy ``text`` with a system tool (``commands``, default: those available); else into a file."""
    tool = copy_with_tool(text, available_tools() if commands is None else commands)
    if tool is not None:
        return Delivery(tool=tool)
    return Delivery(file=write_quote(text, folder))
