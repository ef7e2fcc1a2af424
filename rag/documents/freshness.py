"""A cheap "might the seeds have changed since the build?" probe, for every `rag ask`.

:func:`rag.documents.changes.seeds_changes` says exactly what changed, but it may hash files; this probe reads
no file. It lists the folders (``os.scandir``) and compares each seed file's size and modification time
with the manifest's. It answers False only when every file the index knows is there with the recorded
size and mtime and no new one appeared, so a False needs no further check; on True the caller asks
:func:`rag.documents.changes.seeds_changes`, which decides by content (a bare ``touch`` is not a change).

Listing costs little; the ``stat`` of every file is most of the probe, and on a virtual machine's disk
it waits more than it computes. So the folders are listed first (an added or removed file answers
without a single ``stat``), then, from :data:`PARALLEL_FROM` files, the files are stat'ed by a few
threads at once (``stat`` releases the GIL). 20,000 small files in 20 folders, 2 cores (issue 26,
bench/speed/ask_at_scale.py): see docs/indexing-profile.md for the figures.
"""

from __future__ import annotations

import os
from pathlib import Path

from rag.documents.readers import extensions

PARALLEL_FROM = 512  # files; below this one thread is quicker than starting a few
STAT_THREADS = 8  # stat waits on the file system more than on the CPU: more threads than cores pay
STAT_CHUNK = 256  # files per task


def seeds_may_have_changed(seeds: Path, manifest: dict) -> bool:
    """True when some seed file may have been added, removed or modified since the build.

    Follows the listing rules of :func:`rag.documents.files.iter_seed_files` (hidden entries ignored, links
    followed only inside the folder, each folder once); a folder it cannot list counts as a change.
    """
    indexed = manifest.get("files")
    skipped = manifest.get("skipped_files") or {}
    if not isinstance(indexed, dict) or not isinstance(skipped, dict):
        return True
    listed = _listing(seeds, indexed, skipped)
    if listed is None:
        return True  # a file was added, or a folder could not be listed
    known, found = listed
    if found != len(indexed):
        return True  # some indexed file is gone
    if len(known) < PARALLEL_FROM:
        return not _stamps_match(known)
    from concurrent.futures import ThreadPoolExecutor  # imported here: small folders never need it

    chunks = [known[i : i + STAT_CHUNK] for i in range(0, len(known), STAT_CHUNK)]
    with ThreadPoolExecutor(max_workers=min(STAT_THREADS, len(chunks)), thread_name_prefix="rag-probe") as pool:
        return not all(pool.map(_stamps_match, chunks))


def _listing(seeds: Path, indexed: dict, skipped: dict) -> tuple[list[tuple[os.DirEntry, dict]], int] | None:
    """Every seed file under ``seeds`` with the record the manifest keeps of it, and how many of them
    are indexed ones; None as soon as a file the manifest does not know appears, or a folder cannot
    be listed."""
    exts = extensions()
    root = os.path.realpath(seeds)
    inside = root + os.sep
    seen_dirs: set[tuple[int, int]] = set()
    known: list[tuple[os.DirEntry, dict]] = []
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
                    if link_outside or not name.lower().endswith(exts):
                        continue
                    source = prefix + name
                    old = indexed.get(source)
                    if old is None:
                        old = skipped.get(source)
                        if old is None:
                            return None  # added
                    else:
                        found += 1
                    known.append((e, old))
        except OSError:
            return None
    return known, found


def _stamps_match(known: list[tuple[os.DirEntry, dict]]) -> bool:
    """Whether each file still has the size and mtime of its record (False also when one cannot be stat'ed)."""
    for e, old in known:
        try:
            fst = e.stat()
        except OSError:
            return False
        if (old.get("size"), old.get("mtime_ns")) != (fst.st_size, fst.st_mtime_ns):
            return False
    return True
