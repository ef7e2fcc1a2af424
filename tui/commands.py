"""What the user can tell the app besides a question: the keys, the slash commands typed in the
question box, the command palette, and the help that names them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from .transcript import plural
from .widgets.settings_screen import MAX_K, MODES, SettingsScreen
from .widgets.source_screen import SourceScreen

if TYPE_CHECKING:
    from .app import RagApp

BINDINGS = [
    Binding("ctrl+q", "quit", "Quit", tooltip="Quit rag", priority=True),
    Binding("ctrl+y", "copy_passage", "Copy", tooltip="Copy the selected passage as a Markdown quote"),
    Binding("ctrl+o", "options", "Options", tooltip="Search mode and passages per answer"),
    Binding("ctrl+r", "rebuild", "Rebuild", tooltip="Update the index from the seeds folder"),
    Binding("ctrl+s", "export", "Export", tooltip="Save the conversation as Markdown"),
    Binding("pageup", "scroll_log(-1)", "Scroll up", show=False),
    Binding("pagedown", "scroll_log(1)", "Scroll down", show=False),
]

# The app's actions that do not apply on a screen over the conversation (its footer leaves them out).
NOT_ON: dict[type[Screen], tuple[str, ...]] = {
    SettingsScreen: ("options", "export", "rebuild", "copy_passage", "scroll_log"),
    SourceScreen: ("options", "export", "scroll_log"),
}

COMMANDS_HELP = (
    "Commands: /k N sets how many passages an answer shows (1-50); /mode hybrid|dense|bm25 sets the "
    "search mode; /rebuild updates the index; /export saves the conversation; /help shows this. "
    "Keys: tab moves between the question box and the passages (esc or any letter returns to the "
    "question); ctrl+p opens the command palette; ctrl+q quits."
)


def applies(screen: Screen, action: str) -> bool:
    """Whether the app's ``action`` applies on ``screen``."""
    return not any(isinstance(screen, kind) and action in actions for kind, actions in NOT_ON.items())


async def run_slash_command(app: RagApp, text: str) -> None:
    """A command typed in the question box: /k N, /mode M, /rebuild, /export, /help."""
    name, _, arg = text[1:].strip().partition(" ")
    name, arg = name.lower(), arg.strip()
    options = app.options
    if name == "k":
        if arg.isdigit() and 1 <= int(arg) <= MAX_K:
            options.set_k(int(arg))
            app.notify(f"k {options.k}: answers show {plural(options.k, 'passage')}.", markup=False)
        else:
            await app.log_view.add_note(f"/k needs a whole number from 1 to {MAX_K}, e.g. /k 8", "warning")
    elif name == "mode":
        if arg.lower() in MODES:
            options.set_mode(arg.lower())
            app.notify(f"Mode {options.mode}.", markup=False)
        else:
            await app.log_view.add_note("/mode needs one of hybrid, dense, bm25, e.g. /mode dense", "warning")
    elif name == "rebuild":
        app.builder.rebuild()
    elif name == "export":
        app.exporter.export()
    elif name in ("help", "?"):
        await app.log_view.add_note(COMMANDS_HELP)
    else:
        await app.log_view.add_note(f"Unknown command /{name}. {COMMANDS_HELP}", "warning")


def palette_commands(app: RagApp) -> Iterator[SystemCommand]:
    """The app's own commands in the command palette (ctrl+p), after Textual's."""
    yield SystemCommand("Rebuild index", "Update the index from the seeds folder (ctrl+r)", app.builder.rebuild)
    yield SystemCommand("Export conversation", "Save the conversation as Markdown (ctrl+s)", app.exporter.export)
    yield SystemCommand("Copy passage", "Copy the selected passage as a Markdown quote (ctrl+y)", app.passages.copy)
    yield SystemCommand("Open source", "Show the file of the selected passage at the cited lines", app.passages.open_current)
    yield SystemCommand("Options", "Search mode and passages per answer (ctrl+o)", app.options.show)
    for m in MODES:
        yield SystemCommand(f"Mode: {m}", f"Search by {m} from the next question on", lambda m=m: app.options.set_mode(m))
    for k in (1, 3, 5, 10, 20):
        yield SystemCommand(f"Passages per answer: {k}", f"Set k to {k}", lambda k=k: app.options.set_k(k))
    yield SystemCommand("Question box", "Move the focus to the question box", app.action_focus_question)
