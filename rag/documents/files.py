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

    One ``os.scandir`` per folder, top-down with folders in name order; a link is resolved only
    where an entry is one (the directory entry says so without a system call): 20,000 files are
    listed without an ``lstat`` or a path object each (issue 26: the walk was half of a one-file
    `rag index` there).
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

    def inside(p: str) -> bool:
        try:
            Path(p).resolve().relative_to(real_root)
            return True
        except (ValueError, OSError, RuntimeError):
            return False

    top, abs_top = str(root), str(root.absolute())
    stack = [""]  # folders still to list, by source prefix ("" or "a/b/")
    while stack:
        prefix = stack.pop()
        folder = os.path.join(top, prefix) if prefix else top
        try:
            st = os.stat(folder)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen_dirs:
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            skipped.append(Skipped(prefix.rstrip("/") or ".", f"cannot list folder: {err.strerror or err}"))
            continue
        subfolders = []
        for e in entries:
            name = e.name
            if _is_hidden(name):
                continue
            try:
                is_dir = e.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if not e.is_symlink() or inside(e.path):  # a plain folder of an inside folder is inside
                    subfolders.append(f"{prefix}{name}/")
                continue
            source = prefix + name
            if find_reader(name) is None:
                skipped.append(Skipped(source, unsupported_reason(name)))
                continue
            if e.is_symlink() and not inside(e.path):
                skipped.append(Skipped(source, "link that leads outside the seeds folder"))
                continue
            files.append(SeedFile(source, Path(f"{abs_top}/{source}")))
        stack.extend(reversed(subfolders))
    files.sort(key=lambda f: f.source)
    return files, skipped


