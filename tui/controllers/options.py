"""The search settings: mode and passages per answer (k), set on the options screen (ctrl+o), by
/mode and /k, or from the palette; kept in settings.json for the next run."""

from __future__ import annotations

from ..settings import Settings, load_settings, save_settings
from ..widgets.settings_screen import MAX_K, MODES, SettingsScreen
from .base import Controller

DEFAULT = Settings("hybrid", 5)


class Options(Controller):
    GROUPS = ("settings",)

    def __init__(self, app) -> None:
        super().__init__(app)
        saved = load_settings(app.config.settings_path, DEFAULT, MODES, MAX_K)
        self.mode = saved.mode
        self.k = saved.k

    def show(self) -> None:
        """The options screen; what it returns applies from the next question on."""
        self.app.push_screen(SettingsScreen(self.mode, self.k), self._apply)

    def _apply(self, result: tuple[str, int] | None) -> None:
        if result is None:
            return
        mode, k = result
        self.set_mode(mode)
        self.set_k(k)
        self.app.notify(f"Mode {self.mode}, k {self.k}: used for the next question.", markup=False)

    def set_mode(self, mode: str) -> None:
        if mode in MODES:
            self.mode = mode
            self._changed()

    def set_k(self, k: int) -> None:
        self.k = min(max(1, int(k)), MAX_K)
        self._changed()

    def _changed(self) -> None:
        self.app.status_bar.set_settings(self.mode, self.k)
        path = self.app.config.settings_path
        if path is not None:
            self.run(save_settings, path, Settings(self.mode, self.k), group="settings")
