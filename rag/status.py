"""What changed in the seeds folder since an index was built."""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path

from .ingest import file_hash, iter_seed_files, read_bytes, SkipFile


@dataclass(slots=True)
class Changes:
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.modified or self.removed)

    def summary(self) -> str:
        parts = []
        for label, items in (("added", self.added), ("modified", self.modified), ("removed", self.removed)):
            if items:
                parts.append(f"{len(items)} {label}")
        return ", ".join(parts) if parts else "no changes"


def seeds_changes(seeds: Path, manifest: dict) -> Changes:
    """Files added, modified or removed under ``seeds`` since the build recorded in ``manifest``.

    A file whose size and modification time are unchanged is taken as unchanged; otherwise its
    content hash decides. Files that were skipped at build time count as known while unchanged.
    """
    files, _ = iter_seed_files(Path(seeds))
    indexed = manifest.get("files", {})
    skipped = manifest.get("skipped_files", {})
    ch = Changes()
    present = set()
    for f in files:
        present.add(f.source)
        old = indexed.get(f.source) or skipped.get(f.source)
        if old is None:
            ch.added.append(f.source)
            continue
        try:
            st = f.path.stat()
        except OSError:
            continue
        if (old.get("size"), old.get("mtime_ns")) == (st.st_size, st.st_mtime_ns):
            continue
        if not stat.S_ISREG(st.st_mode):
            continue  # never open a pipe or a device: the build skips them too
        if f.source in skipped:
            ch.modified.append(f.source)
            continue
        try:
            if file_hash(read_bytes(f.path)) != old.get("sha256"):
                ch.modified.append(f.source)
        except SkipFile:
            ch.modified.append(f.source)
    ch.removed = sorted(s for s in indexed if s not in present)
    return ch
