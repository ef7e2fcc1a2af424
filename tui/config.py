"""What the app is given: where it reads and writes, and how it opens, refreshes and builds an index.

No UI code here. The controllers call :meth:`AppConfig.open`, :meth:`AppConfig.refresh` and
:meth:`AppConfig.run_build` from workers; tests inject a small index, a fake encoder, or their
own ``open_retriever``/``build``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .history import HISTORY_FILE
from .settings import SETTINGS_FILE
from .transcript import short_path


@dataclass(frozen=True)
class AppConfig:
    """Where the app reads and writes, and what it uses to open, build and encode.

    The paths and labels left out are filled in from ``index`` and ``seeds``.
    """

    index: Path
    seeds: Path
    encoder: Any = None  # a rag.embedding.document_encoder.Encoder for both building and questions; None = the bundled model
    open_retriever: Callable[[Path, Any], Any] | None = None  # (index, previous retriever) -> Retriever
    build: Callable[..., Any] | None = None  # build_index(seeds, index, progress=, cancel=) -> BuildStats
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

    def open(self, previous: Any = None) -> Any:
        if self.open_retriever is not None:
            return self.open_retriever(self.index, previous)
        from rag.errors import IndexMismatchError
        from rag.search.retriever import Retriever

        encoder = self.encoder
        if encoder is None and previous is not None:
            encoder = previous.encoder()  # already loaded: reuse it for the new version
        try:
            return Retriever.open(self.index, encoder=encoder)
        except IndexMismatchError:
            if encoder is None or self.encoder is not None:
                raise
            return Retriever.open(self.index)  # the new version uses another model

    def refresh(self, current: Any) -> Any:
        """The newest complete version when a build (here or in another process) published one since
        ``current`` was opened, else ``current`` itself. Cheap when nothing changed (one small file)."""
        is_current = getattr(current, "is_current", None)
        if is_current is None or is_current():
            return current
        if self.open_retriever is None and hasattr(current, "refreshed"):
            from rag.errors import IndexMismatchError

            try:
                return current.refreshed()
            except IndexMismatchError:
                pass  # the new version uses another model: open it with that one
        return self.open(current)

    def run_build(self, progress: Callable[[str, int, int], None], cancel, full: bool = False) -> Any:
        """Update the index (only what changed), or rebuild it all (``full``) when it is unusable."""
        if self.build is not None:
            return self.build(self.seeds, self.index, progress=progress, cancel=cancel, rebuild=full)
        from rag.indexing.build import build_index

        # The query-encoder export (once per model) runs detached: no answer waits for it.
        return build_index(
            self.seeds, self.index, rebuild=full, encoder=self.encoder, progress=progress, cancel=cancel,
            export_query_encoder="background",
        )

    def screenshot_folder(self) -> Path:
        """Where a screenshot goes: ~/Downloads when it exists, else the current folder."""
        import platformdirs  # only when a screenshot is taken

        downloads = Path(platformdirs.user_downloads_path())
        return downloads if downloads.is_dir() else Path.cwd()
