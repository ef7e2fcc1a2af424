"""Where a folder's index lives when no ``--index`` is given.

The shipped ``seeds/`` keeps ``indexes/default`` beside it. Any other folder gets an index of its own
under the user's data directory, named after the folder and a hash of its absolute path, so two
folders never share (or overwrite) an index, and the folder itself is never written to:
``$RAG_DATA_DIR``, else ``$XDG_DATA_HOME/rag``, else ``~/.local/share/rag``, then
``indexes/<folder name>-<12 hex digits>``.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

DEFAULT_SEEDS = "seeds"
DEFAULT_INDEX = os.path.join("indexes", "default")


def data_dir() -> Path:
    """The user's data folder for rag (indexes of folders other than the shipped seeds)."""
    env = os.environ.get("RAG_DATA_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "rag"


def default_index_for(seeds: str | os.PathLike[str]) -> Path:
    """The index that belongs to ``seeds``: ``indexes/default`` for the shipped ``./seeds``, else
    one of its own under :func:`data_dir`."""
    folder = Path(os.path.abspath(Path(seeds).expanduser()))
    if folder == Path(os.path.abspath(DEFAULT_SEEDS)):
        return Path(DEFAULT_INDEX)
    real = os.path.realpath(folder)  # the same folder reached through a link shares its index
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(real).name).strip("._") or "folder"
    return data_dir() / "indexes" / f"{name[:40]}-{digest}"
