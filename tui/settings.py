"""The search settings (mode and k) kept across runs in a small JSON file beside the index.

``{"mode": "dense", "k": 8}``. Reading never raises (a damaged or missing file gives the defaults);
writing replaces the file atomically. No UI code here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

SETTINGS_FILE = "settings.json"


@dataclass(frozen=True, slots=True)
class Settings:
    mode: str
    k: int


def load_settings(path: Path | None, default: Settings, modes: tuple[str, ...], max_k: int) -> Settings:
    """The saved settings, each one that is missing or invalid replaced by its default."""
    if path is None:
        return default
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default
    if not isinstance(obj, dict):
        return default
    mode = obj.get("mode")
    k = obj.get("k")
    return Settings(
        mode if isinstance(mode, str) and mode in modes else default.mode,
        k if isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= max_k else default.k,
    )


def save_settings(path: Path, settings: Settings) -> None:
    """Write the settings; raises OSError when the file cannot be written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"mode": settings.mode, "k": settings.k}) + "\n", encoding="utf-8")
    os.replace(tmp, path)
