"""Opening a seed file in the system's viewer, at the cited page where the viewer can be told it.

A PDF viewer that takes a page on its command line (zathura, evince, okular, mupdf, qpdfview,
xpdf) is started directly at the page; otherwise the desktop's opener (``xdg-open`` on Linux with a
display, ``open`` on macOS) opens the file at its first page, and the message names the page to go
to (neither passes a ``#page=N`` fragment of a ``file://`` address to the viewer reliably). The
viewer is started detached and never waited for. No UI code here: the app shows the message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# (program, arguments before the file given the page, whether the file comes before them)
PAGE_VIEWERS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("zathura", ("--page={page}",), False),
    ("evince", ("--page-index={page}",), False),
    ("okular", ("-p", "{page}"), False),
    ("qpdfview", (), False),  # takes FILE#PAGE
    ("mupdf", ("{page}",), True),
    ("xpdf", ("{page}",), True),
)


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def viewer_command(path: Path, page: int | None) -> tuple[list[str], bool] | None:
    """The command that shows ``path`` (at ``page`` where given and possible), and whether it goes
    to that page; None when this system has no viewer to start."""
    pdf = path.suffix.lower() == ".pdf"
    if sys.platform == "darwin":
        opener = shutil.which("open")
        return ([opener, str(path)], page is None) if opener else None
    if sys.platform == "win32":
        return None  # os.startfile is used instead; see open_file
    if not _has_display():
        return None
    if pdf and page is not None:
        for program, args, file_first in PAGE_VIEWERS:
            exe = shutil.which(program)
            if exe is None:
                continue
            if program == "qpdfview":
                return [exe, f"{path}#{page}"], True
            filled = [a.format(page=page) for a in args]
            return ([exe, str(path), *filled] if file_first else [exe, *filled, str(path)]), True
    opener = shutil.which("xdg-open")
    return ([opener, str(path)], page is None) if opener else None


def launch(command: list[str]) -> None:
    """Start ``command`` detached from the terminal; never waits for it."""
    subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def open_file(path: Path, source: str, page: int | None) -> str:
    """Open ``path`` in the system viewer; returns the one-line message for the user."""
    where = f" at page {page}" if page is not None else ""
    if not path.is_file():
        return f"Cannot open {source}: the file is gone"
    if sys.platform == "win32":
        try:
            os.startfile(str(path))  # type: ignore[attr-defined]
        except OSError as exc:
            return f"Cannot open {source}: {exc.strerror or exc}"
        return f"Opened {source}" + (f"; go to page {page}" if page is not None else "")
    found = viewer_command(path, page)
    if found is None:
        return (
            f"No viewer to open {source} here (no display, or no xdg-open): open {path}{where} yourself"
        )
    command, at_page = found
    try:
        launch(command)
    except OSError as exc:
        return f"Cannot start {Path(command[0]).name} for {source}: {exc.strerror or exc}"
    name = Path(command[0]).name
    if at_page:
        return f"Opened {source}{where} with {name}"
    return f"Opened {source} with {name}" + (f"; go to page {page}" if page is not None else "")
