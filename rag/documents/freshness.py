"""A cheap "might the seeds have changed since the build?" probe, for every `rag ask`.

:func:`rag.documents.changes.seeds_changes` says exactly what changed, but it may hash files; this probe reads
no file. It lists the folders (``os.scandir``) and compares each ``.txt``/``.md`` file's size and
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
    """True when some seed file may have been added, removed or modified since the build.

    Follows the listing rules of :func:`rag.documents.files.iter_seed_files` (hidden entries ignored, links
    followed only inside the folder, each folder once); a folder it cannot list counts as a change.
    """
    indexed = manifest.get("files")
    skipped = manifest.get("skipped_files") or {}
    if not isinstance(indexed, dict) or not isinstance(skipped, dict):
        return True
    root = os.path.realpath(seeds)
    inside = root + os.sep
    seen_dirs: set[tuple[int, int]] = set()
    found = 0
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
                    if name.startswith("."):
                        continue
                    link_outside = e.is_symlink() and not (os.path.realpath(e.path) + os.sep).startswith(inside)
                    if e.is_dir():
                        if not link_outside:
                            stack.append((e.path, f"{prefix}{name}/"))
                        continue
                    if link_outside or not name.lower().endswith(extensions()):
                        continue
                    source = prefix + name
                    old = indexed.get(source)
                    if old is None:
                        old = skipped.get(source)
                        if old is None:
                            return True  # added
                    else:
                        found += 1
                    try:
                        fst = e.stat()
                    except OSError:
                        return True
                    if (old.get("size"), old.get("mtime_ns")) != (fst.st_size, fst.st_mtime_ns):
                        return True
        except OSError:
            return True
    return found != len(indexed)  # some indexed file is gone
