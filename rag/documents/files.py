"""The seeds folder: which files are candidate documents, and which are skipped (and why).

A file is a candidate when a reader is registered for its extension
(:mod:`rag.documents.readers`); every other file is listed as skipped with its reason.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from rag.documents.readers import find_reader, unsupported_reason
from rag.errors import SeedsError
from rag.types import Skipped

__all__ = ["SeedFile", "file_hash", "iter_seed_files", "unsupported_reason"]


@dataclass(frozen=True, slots=True)
class SeedFile:
    """A candidate document: its path relative to the seeds folder (with ``/``) and absolute path."""

    source: str
    path: Path


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def iter_seed_files(root: Path) -> tuple[list[SeedFile], list[Skipped]]:
    """All files under ``root`` that a reader reads, sorted by source, and the files that are skipped.

    Every other file is listed in the skipped ones with its reason (an unsupported format, a link
    that leads outside ``root``). Hidden files and folders (names starting with ``.``) are ignored
    silently: they are an editor's, a version control's or the system's, not documents.
    Links are followed only while they stay inside ``root``; a link loop is visited once.
    """
    root = Path(root)
    if not root.exists():
        raise SeedsError(f"seeds folder not found: {root} (create it and put .txt or .md files in it)")
    if not root.is_dir():
        raise SeedsError(f"seeds path is not a folder: {root}")
    real_root = root.resolve()
    files: list[SeedFile] = []
    skipped: list[Skipped] = []
    seen_dirs: set[tuple[int, int]] = set()

    def inside(p: Path) -> bool:
        try:
            p.resolve().relative_to(real_root)
            return True
        except (ValueError, OSError, RuntimeError):
            return False

    def on_error(err: OSError) -> None:
        rel = os.path.relpath(err.filename or str(root), root) if err.filename else "."
        skipped.append(Skipped(Path(rel).as_posix(), f"cannot list folder: {err.strerror or err}"))

    abs_root = root.absolute()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=on_error):
        d = Path(dirpath)
        try:
            st = d.stat()
        except OSError:
            dirnames[:] = []
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs or not inside(d):
            dirnames[:] = []
            continue
        seen_dirs.add(key)
        dirnames[:] = sorted(n for n in dirnames if not _is_hidden(n))
        rel_dir = d.relative_to(root)  # once per folder: a file's source and path are joins
        prefix = "" if rel_dir == Path(".") else rel_dir.as_posix() + "/"
        abs_dir = abs_root / rel_dir
        for name in sorted(filenames):
            if _is_hidden(name):
                continue
            p = d / name
            source = prefix + name
            if find_reader(name) is None:
                skipped.append(Skipped(source, unsupported_reason(name)))
                continue
            if p.is_symlink() and not inside(p):
                skipped.append(Skipped(source, "link that leads outside the seeds folder"))
                continue
            files.append(SeedFile(source, abs_dir / name))
    files.sort(key=lambda f: f.source)
    return files, skipped


