"""What the app is given: where it reads and writes, and what its live index builds and encodes with.

No UI code here. The live index (:class:`rag.service.state.IndexService`) is opened with these;
tests inject a small index, a fake encoder, or their own ``build``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .history import HISTORY_FILE
from .settings import SETTINGS_FILE
from .transcript import short_path


def build_here(seeds: Path, index: Path, **options: Any) -> Any:
    """The live index's build, in this process: the first answer of a first run does not wait for a
    second process to load the model."""
    from rag.indexing.build import build_index  # loads with the first build, in its worker or thread

    return build_index(seeds, index, **options)


@dataclass(frozen=True)
class AppConfig:
    """Where the app reads and writes, and what it uses to open, build and encode.

    The paths and labels left out are filled in from ``index`` and ``seeds``.
    """

    index: Path
    seeds: Path
    encoder: Any = None  # a rag.embedding.document_encoder.Encoder for both building and questions; None = the bundled model
    build: Callable[..., Any] = build_here  # like build_index(seeds, index, progress=, cancel=, ...) -> BuildStats
    history_path: Path | None = None  # default: history.jsonl inside the index folder
    export_dir: Path | None = None  # default: exports/ inside the index folder
    remember_settings: bool = True  # False: mode and k are neither read nor saved (pictures, tests)
    clipboard_commands: Sequence[tuple[str, ...]] | None = None  # None: wl-copy/xclip/xsel/pbcopy found here
    show_scores: bool = True  # False hides the passages' scores (pictures that must not depend on floats)
    index_label: str | None = None  # how the index is named on screen (default: a short path)
    seeds_label: str | None = None  # how the seeds folder is named (default: a short path and "/")
    cursor_blink: bool = True
    watch: bool = False  # follow the seeds folder: each burst of saves updates the index (`rag chat` turns it on)

    def __post_init__(self) -> None:
        index, seeds = Path(self.index), Path(self.seeds)
        filled = {
            "index": index,
            "seeds": seeds,
            "history_path": index / HISTORY_FILE if self.history_path is None else self.history_path,
            "export_dir": index / "exports" if self.export_dir is None else self.export_dir,
            "index_label": short_path(index) if self.index_label is None else self.index_label,
            "seeds_label": short_path(seeds) + "/" if self.seeds_label is None else self.seeds_label,
        }
        for name, value in filled.items():
            object.__setattr__(self, name, value)  # frozen: filled in once, here

    @property
    def settings_path(self) -> Path | None:
        """Where mode and k are kept (None: they are not kept)."""
        return self.index / SETTINGS_FILE if self.remember_settings else None

    @property
    def where(self) -> str:
        """Which folder and which index answer, as the status bar names them."""
        return f"{self.seeds_label} → {self.index_label}"

    def screenshot_folder(self) -> Path:
        """Where a screenshot goes: ~/Downloads when it exists, else the current folder."""
        import platformdirs  # only when a screenshot is taken

        downloads = Path(platformdirs.user_downloads_path())
        return downloads if downloads.is_dir() else Path.cwd()
