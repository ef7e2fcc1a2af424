"""A cheap "might the seeds have changed since the build?" probe, for every `rag ask`.

:func:`rag.documents.changes.seeds_changes` says exactly what changed, but it may hash files; this probe reads
no file. It lists the folders (``os.scandir``) and compares each candidate file's size and
modification time with the manifest's. It answers False only when every file the index knows is
there with the recorded size and mtime and no new one appeared, so a False needs no further check;
on True the caller asks :func:`rag.documents.changes.seeds_changes`, which decides by content (a bare
``touch`` is not a change).
"""

from __future__ import annotations

import os
from pathlib import Path

from rag.documents.readers import extensions


def seeds_may_have_changed(seeds: Path, manifest: dict) -> bool:
    """True when some seed file may have been added, removed or modified since the build."""
    return stamps_differ(seed_stamps(seeds), manifest)


def seed_stamps(seeds: Path) -> dict[str, tuple[int, int]] | None:
    """``(size, mtime_ns)`` of every candidate document under ``seeds``, by source; None when a
    folder cannot be listed or a file cannot be stat'ed (a change, for :func:`stamps_differ`).

    Needs no manifest, so `rag ask` collects it on another thread while the index opens. Follows
    the listing rules of :func:`rag.documents.files.iter_seed_files` (hidden entries ignored, links
    followed only inside the folder, each folder once).
    """
    root = os.path.realpath(seeds)
    inside = root + os.sep
    exts = extensions()
    seen_dirs: set[tuple[int, int]] = set()
    out: dict[str, tuple[int, int]] = {}
    stack: list[tuple[str, str]] = [(str(seeds), "")]  # (path, source prefix)
    while stack:
        path, prefix = stack.pop()
        try:
            st = os.stat(path)
            if (st.st_dev, st.st_ino) in seen_dirs:
                continue
            seen_dirs.add((st.st_dev, st.st_ino))
            with os.scandir(path) as entries:
                for e in entries:
                    name = e.name
                    if name[0] == ".":
                        continue
                    link_outside = e.is_symlink() and not (os.path.realpath(e.path) + os.sep).startswith(inside)
                    if e.is_dir():
                        if not link_outside:
                            stack.append((e.path, f"{prefix}{name}/"))
                    elif not link_outside and name.lower().endswith(exts):
                        fst = e.stat()
                        out[prefix + name] = (fst.st_size, fst.st_mtime_ns)
        except OSError:
            return None
    return out


def stamps_differ(stamps: dict[str, tuple[int, int]] | None, manifest: dict) -> bool:
    """Whether ``stamps`` (:func:`seed_stamps`) show a file added, removed or modified since the
    build that ``manifest`` records. False only when every file the index knows is there with the
    recorded size and mtime and no new one appeared."""
    indexed = manifest.get("files")
    skipped = manifest.get("skipped_files") or {}
    if stamps is None or not isinstance(indexed, dict) or not isinstance(skipped, dict):
        return True
    found = 0
    for source, now in stamps.items():
        old = indexed.get(source)
        if old is None:
            old = skipped.get(source)
            if old is None:
                return True  # added
        else:
            found += 1
        if (old.get("size"), old.get("mtime_ns")) != now:
            return True
    return found != len(indexed)  # some indexed file is gone
