"""Which reader reads which file: a map from file name endings to readers.

Adding a format is one reader module and one :func:`register` call (in ``readers/__init__.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

from rag.documents.readers.base import Reader
from rag.errors import SeedsError

_READERS: dict[str, Reader] = {}


def register(reader: Reader) -> None:
    """Make ``reader`` the reader of its extensions (a later registration replaces an earlier one)."""
    for ext in reader.extensions:
        if not ext.startswith(".") or ext != ext.lower():
            raise ValueError(f"extensions are lower case and start with a dot, not {ext!r}")
        _READERS[ext] = reader


def extensions() -> tuple[str, ...]:
    """The file name endings that have a reader, in registration order."""
    return tuple(_READERS)


def _ext(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def find_reader(name: str | Path) -> Reader | None:
    """The reader of a file of this name, or None when its format has none."""
    return _READERS.get(_ext(str(name)))


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
