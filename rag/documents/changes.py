"""What changed in the seeds folder since a build: the one decision that build, status and the UI share.

A file's *stamp* is its size, modification time, status-change time and inode. The stamp only
decides whether the file is hashed: an unchanged stamp means unchanged content. The content hash
decides what changed. The status-change time (``ctime``) moves on every write and cannot be set
back (``touch -d``, ``rsync -t`` and ``os.utime`` set the modification time only), so an edit that
keeps the size and restores the modification time is still seen.

A file whose stamp moved but whose content did not (``touch``) is *touched*: no change, nothing to
publish. So that it is not hashed again at every check, a build records its new stamp and hash in
``stamps.json`` beside the index versions (written atomically, under the build lock). That file is
only a memo: an entry counts only while the file's stamp equals it, so a stale or foreign entry
can never hide a change, and losing the file costs one hash per touched file.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from rag.documents.files import SeedFile, iter_seed_files
from rag.hashing import sha256_file
from rag.types import Skipped

STAMPS = "stamps.json"


@dataclass(frozen=True, slots=True)
class Stamp:
    """What ``stat`` says of a file, enough to tell that it was not written since."""

    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int

    @classmethod
    def of(cls, st: os.stat_result) -> Stamp:
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)

    @classmethod
    def recorded(cls, meta: dict) -> Stamp | None:
        """The stamp a manifest entry records, or None when it records none (or an older, partial one)."""
        try:
            return cls(int(meta["size"]), int(meta["mtime_ns"]), int(meta["ctime_ns"]), int(meta["ino"]))
        except (KeyError, TypeError, ValueError):
            return None

    def to_json(self) -> dict:
        return {"size": self.size, "mtime_ns": self.mtime_ns, "ctime_ns": self.ctime_ns, "ino": self.ino}


@dataclass(slots=True)
class Changes:
    """Files added, modified (content) or removed since a build; touched files are no change."""

    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    touched: dict[str, tuple[Stamp, str]] = field(default_factory=dict)  # source: (new stamp, sha256)

    def __bool__(self) -> bool:
        return bool(self.added or self.modified or self.removed)

    def summary(self) -> str:
        parts = []
        for label, items in (("added", self.added), ("modified", self.modified), ("removed", self.removed)):
            if items:
                parts.append(f"{len(items)} {label}")
        return ", ".join(parts) if parts else "no changes"


def sha256_of(path: Path) -> str:
    """The sha256 of a file's bytes, read in blocks (any size); as :func:`~rag.documents.ingest.read_seed` hashes."""
    return sha256_file(path)


def detect_changes(
    files: list[SeedFile],
    walk_skipped: list[Skipped],
    manifest: dict,
    known: dict[str, dict] | None = None,
) -> Changes:
    """Compare the seeds (as :func:`~rag.documents.files.iter_seed_files` lists them) with ``manifest``.

    ``known`` holds stamps and hashes found since the build (see :func:`load_stamps`).
    """
    indexed: dict = manifest.get("files", {}) or {}
    skipped: dict = manifest.get("skipped_files", {}) or {}
    known = known or {}
    ch = Changes()
    present: set[str] = set()
    for f in files:
        present.add(f.source)
        old = indexed.get(f.source) or skipped.get(f.source)
        if old is None:
            ch.added.append(f.source)
            continue
        try:
            st = os.stat(f.path)
        except OSError:
            ch.modified.append(f.source)  # vanished or unreadable now: the build will say which
            continue
        now = Stamp.of(st)
        if Stamp.recorded(old) == now:
            continue
        if not stat.S_ISREG(st.st_mode):
            # Never open a pipe or a device: the build skips them too, and records no hash.
            if f.source in indexed or old.get("sha256"):
                ch.modified.append(f.source)
            continue
        memo = known.get(f.source)
        if memo is not None and Stamp.recorded(memo) == now and memo.get("sha256"):
            sha = memo["sha256"]
        else:
            try:
                sha = sha256_of(f.path)
            except OSError:
                ch.modified.append(f.source)
                continue
        if old.get("sha256") and sha == old["sha256"]:
            ch.touched[f.source] = (now, sha)
        else:
            ch.modified.append(f.source)
    for s in walk_skipped:
        present.add(s.source)
        old = skipped.get(s.source)
        if s.source in indexed or (old is not None and old.get("reason") != s.reason):
            ch.modified.append(s.source)
        elif old is None:
            ch.added.append(s.source)
    ch.added.sort()
    ch.modified.sort()
    ch.removed = sorted(s for s in (*indexed, *skipped) if s not in present)
    return ch


def seeds_changes(seeds: Path, manifest: dict, index_dir: Path | None = None) -> Changes:
    """What changed under ``seeds`` since the build recorded in ``manifest``.

    With ``index_dir``, the stamps refreshed by earlier builds spare hashing touched files again.
    """
    files, walk_skipped = iter_seed_files(Path(seeds))
    known = load_stamps(index_dir) if index_dir is not None else {}
    return detect_changes(files, walk_skipped, manifest, known)


def load_stamps(index_dir: Path) -> dict[str, dict]:
    """The stamps and hashes of touched files recorded by the last build; {} when none or unreadable."""
    try:
        data = json.loads((Path(index_dir) / STAMPS).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return {k: v for k, v in files.items() if isinstance(v, dict)} if isinstance(files, dict) else {}


def save_stamps(index_dir: Path, touched: dict[str, tuple[Stamp, str]]) -> None:
    """Record the stamps of touched files (atomically; call under the build lock). Failure costs speed only."""
    path = Path(index_dir) / STAMPS
    if not touched:
        clear_stamps(index_dir)
        return
    body = {"files": {src: {**stamp.to_json(), "sha256": sha} for src, (stamp, sha) in sorted(touched.items())}}
    tmp = path.with_name(STAMPS + ".tmp")
    try:
        tmp.write_text(json.dumps(body), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a memo only: the next check hashes the touched files again


def clear_stamps(index_dir: Path) -> None:
    try:
        (Path(index_dir) / STAMPS).unlink(missing_ok=True)
    except OSError:
        pass  # a stale memo is harmless: entries count only while a file's stamp equals them
