"""Options: the search mode and how many passages an answer shows (k), without leaving the app."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.validation import Integer
from textual.widgets import Input, Label, RadioButton, RadioSet, Static

from rag.search.limits import MODES

MODE_HELP = {
    "hybrid": "meaning and words, fused (best overall)",
    "dense": "meaning only (finds paraphrases)",
    "bm25": "words only (exact terms, names, numbers)",
}
MAX_K = 50
K_RANGE = f"k must be a whole number from 1 to {MAX_K}"


class SettingsScreen(ModalScreen[tuple[str, int] | None]):
    """Returns ``(mode, k)`` on Enter, None on Escape."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "apply", "Apply", priority=True),
    ]

    def __init__(self, mode: str, k: int) -> None:
        super().__init__()
        self.mode = mode if mode in MODES else MODES[0]
        self.k = k

    def compose(self) -> ComposeResult:
        with Vertical(id="settings") as box:
            box.border_title = "Options"
            yield Label(Content("Search mode"), classes="settings-label")
            with RadioSet(id="settings-mode"):
                for m in MODES:
                    yield RadioButton(Content(f"{m:<7} {MODE_HELP[m]}"), value=m == self.mode, name=m)
            yield Label(Content(f"Passages per answer (k, 1-{MAX_K})"), classes="settings-label")
            yield Input(str(self.k), type="integer", validators=[Integer(1, MAX_K)], id="settings-k")
            yield Static(Content(""), id="settings-k-error")
            yield Static(
                Content("↑↓ enter choose the mode · type k, enter apply · esc cancel"), id="settings-hint"
            )

    def on_mount(self) -> None:
        self.query_one(RadioSet).focus()

    @on(RadioSet.Changed)
    def _mode_chosen(self, event: RadioSet.Changed) -> None:
        """Choosing a mode moves on to k; Enter there applies both."""
        if event.radio_set.has_focus:
            box = self.query_one("#settings-k", Input)
            box.focus()
            box.select_all()

    def _chosen_mode(self) -> str:
        pressed = self.query_one(RadioSet).pressed_button
        return pressed.name if pressed is not None and pressed.name in MODES else self.mode

    @on(Input.Changed, "#settings-k")
    def _k_changed(self, event: Input.Changed) -> None:
        """Say why the box turns red, as it does."""
        result = event.validation_result
        self._show_k_error(result is not None and not result.is_valid)

    def _show_k_error(self, show: bool) -> None:
        self.query_one("#settings-k-error", Static).update(Content(K_RANGE if show else ""))

    @on(Input.Submitted, "#settings-k")
    def _k_submitted(self) -> None:
        self.action_apply()

    def action_apply(self) -> None:
        box = self.query_one("#settings-k", Input)
        result = box.validate(box.value)
        if result is not None and not result.is_valid:
            self._show_k_error(True)
            self.notify(K_RANGE, severity="warning", markup=False)
            box.focus()
            return
        self.dismiss((self._chosen_mode(), int(box.value)))

    def action_cancel(self) -> None:
        self.dismiss(None)
