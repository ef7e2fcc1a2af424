"""Which reader reads which file: a map from file name endings to readers.

Adding a format is one reader module and one :func:`register` (or :func:`register_lazy`) call in
``readers/__init__.py``. A lazily registered reader's module is imported when a file of its kind is
first looked up, so that listing the known extensions (every `rag ask` does, to see whether the
seeds changed) imports no reader.
"""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import SeedsError

if TYPE_CHECKING:
    from rag.documents.readers.base import Reader

_READERS: dict[str, "Reader | str"] = {}  # extension -> reader, or "module:Class" not imported yet
_LOADING = threading.Lock()


def register(reader: Reader) -> None:
    """Make ``reader`` the reader of its extensions (a later registration replaces an earlier one)."""
    for ext in reader.extensions:
        if not ext.startswith(".") or ext != ext.lower():
            raise ValueError(f"extensions are lower case and start with a dot, not {ext!r}")
        _READERS[ext] = reader


def register_lazy(spec: str, extensions: tuple[str, ...]) -> None:
    """Make the reader ``spec`` ("package.module:Class", constructed without arguments) the reader
    of ``extensions``, imported on first use; it must declare exactly these ``extensions``."""
    for ext in extensions:
        if not ext.startswith(".") or ext != ext.lower():
            raise ValueError(f"extensions are lower case and start with a dot, not {ext!r}")
        _READERS[ext] = spec


def _loaded(ext: str) -> "Reader | None":
    """The reader of ``ext``, importing and constructing it if it was registered lazily."""
    with _LOADING:
        spec = _READERS.get(ext)
        if not isinstance(spec, str):
            return spec  # loaded meanwhile (or replaced)
        module, _, name = spec.partition(":")
        reader = getattr(importlib.import_module(module), name)()
        registered = {e for e, v in _READERS.items() if v == spec}
        if set(reader.extensions) != registered:
            raise ValueError(f"{spec} reads {sorted(reader.extensions)}, registered for {sorted(registered)}")
        for e in registered:
            _READERS[e] = reader
        return reader


def extensions() -> tuple[str, ...]:
    """The file name endings that have a reader, in registration order."""
    return tuple(_READERS)


def _ext(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def find_reader(name: str | Path) -> Reader | None:
    """The reader of a file of this name, or None when its format has none."""
    ext = _ext(str(name))
    reader = _READERS.get(ext)
    return _loaded(ext) if isinstance(reader, str) else reader


def reader_for(path: str | Path) -> Reader:
    """The reader of ``path``; raises :class:`~rag.errors.SeedsError` when its format has none."""
    reader = find_reader(path)
    if reader is None:
        raise SeedsError(f"{path}: {unsupported_reason(Path(path).name)}")
    return reader


def unsupported_reason(name: str) -> str:
    """Why a file of this name is not read: its format has no reader."""
    readers = ", ".join(_READERS)
    ext = os.path.splitext(name)[1]
    if not ext:
        return f"unsupported format: no extension (readers: {readers})"
    return f"unsupported format {ext.lower()} (readers: {readers})"
