"""The index folder's versioning: the ``CURRENT`` pointer, the manifest format, the writer's lock,
publishing a version and collecting what no version refers to.

Layout of ``indexes/NAME/`` (the local backend's, :mod:`rag.index.local`)::

    CURRENT                   the name of the complete version readers use (replaced atomically)
    .previous                 the version before it (kept for readers that opened it a moment ago)
    v-<time>-<id>/manifest.json
                              a version: its live segments, each with its deletion array and counts,
                              the sizes and checksums of every file (carried over, never recomputed),
                              and "meta": the writer's record (for rag: model identity, seeds root,
                              per-file stamps and hashes, skipped files), carried over by commits
                              and compactions that do not set it
    segments/<seg-id>/        immutable segments (see :mod:`rag.index.segments`)
    deletes/<seg-id>.g<N>.npy sorted int32 rows of a segment deleted as of generation N (written
                              once by the commit that deleted them; later versions refer to it)
    merging/                  a compaction's segment under construction (and its own lock)
    .tmp-<id>                 something being written (removed by the next writer if one died)
    .lock                     the single writer's lock (:class:`BuildLock`)

A commit writes its new files, syncs them, writes ``v-*/manifest.json`` and then replaces
``CURRENT`` (:func:`publish_manifest`). Garbage collection keeps what the current and the previous
version refer to (:func:`collect_garbage`). A crash at any moment leaves ``CURRENT`` naming a
complete version.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import shutil
import threading
import time
from pathlib import Path

from rag.hashing import sha256_file  # noqa: F401 - the index modules hash through this name
from rag.errors import IndexCorruptError, IndexLockedError, IndexMismatchError, IndexMissingError, IndexPathError

FORMAT = "rag-segments"
FORMAT_VERSION = 2  # 1 was "rag-index": one folder per version, rebuilt whole by every build
OLD_FORMAT = "rag-index"
CURRENT = "CURRENT"
PREVIOUS = ".previous"
MANIFEST = "manifest.json"
LOCK = ".lock"
TMP_PREFIX = ".tmp-"
VERSION_PREFIX = "v-"
SEGMENTS = "segments"
DELETES = "deletes"
MERGING = "merging"
REBUILD_HINT = "run `rag index --rebuild`"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def current_version(index_dir: Path) -> Path | None:
    """The folder of the complete version that ``CURRENT`` names, or None when nothing is built."""
    index_dir = Path(index_dir)
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise IndexPathError(f"{index_dir} is not a folder (it, or a folder above it, is a file): give --index a folder") from None
    except PermissionError:
        raise IndexPathError(
            f"cannot read the index at {index_dir}: permission denied; check its permissions or use another --index"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"cannot read {index_dir / CURRENT} ({exc}); {REBUILD_HINT}") from exc
    if not name.startswith(VERSION_PREFIX) or "/" in name or not (index_dir / name).is_dir():
        raise IndexCorruptError(f"{index_dir / CURRENT} names no complete index ({name!r}); {REBUILD_HINT}")
    return index_dir / name


# A manifest parsed by a one-shot command's warm-up thread (:func:`open_meta` with ``hand_over``),
# taken by the next reader of the same file instead of parsing it again (tens of ms at 20,000 files).
# Keyed by the file's path, inode, size and mtime: a version's manifest is written once, atomically.
_HANDED: dict[tuple, dict] = {}
_PARSING = threading.Lock()  # one parse at a time: a reader waits for a parse under way, then takes it


def read_manifest(version_dir: Path, hand_over: bool = False) -> dict:
    """The manifest of ``version_dir``, checked. ``hand_over``: the next call for the same file
    gets this very dict (once) instead of parsing the file again."""
    path = Path(version_dir) / MANIFEST
    with _PARSING:
        try:
            st = path.stat()
            key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            key = None  # _parse_manifest says what is wrong
        manifest = _HANDED.pop(key, None)
        if manifest is None:
            manifest = _parse_manifest(path)
            if hand_over and key is not None:
                _HANDED.clear()
                _HANDED[key] = manifest
    return manifest


def _parse_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"{path} is missing; {REBUILD_HINT}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise IndexCorruptError(f"{path} is not valid JSON ({exc}); {REBUILD_HINT}") from None
    if isinstance(manifest, dict) and manifest.get("format") == OLD_FORMAT:
        raise IndexMismatchError(f"index format 1 (an older layout) is older than this rag's {FORMAT_VERSION}; "
                                 f"{REBUILD_HINT}")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexCorruptError(f"{path} is not a rag index manifest; {REBUILD_HINT}")
    version = manifest.get("format_version")
    if not isinstance(version, int):
        raise IndexCorruptError(f"{path} has no format version; {REBUILD_HINT}")
    if version > FORMAT_VERSION:
        raise IndexMismatchError(
            f"index format {version} was written by a newer rag (this one reads format {FORMAT_VERSION}); "
            f"upgrade rag or {REBUILD_HINT}"
        )
    if version < FORMAT_VERSION:
        raise IndexMismatchError(f"index format {version} is older than this rag's {FORMAT_VERSION}; {REBUILD_HINT}")
    return manifest


def open_current(index_dir: Path, hand_over: bool = False) -> tuple[Path, dict]:
    """The current version folder and its manifest (see :func:`read_manifest` for ``hand_over``);
    raises if none is built."""
    index_dir = Path(index_dir)
    version = current_version(index_dir)
    if version is None:
        if index_dir.is_dir() and (index_dir / MANIFEST).exists():
            raise IndexMismatchError(f"{index_dir} holds an index of an unknown layout; {REBUILD_HINT}")
        raise IndexMissingError(f"no index at {index_dir}: run `rag index` to build it")
    return version, read_manifest(version, hand_over)


def open_meta(index_dir: Path, hand_over: bool = False) -> tuple[Path, dict]:
    """The current version folder and the build's metadata it records (model, seeds root, files,
    skipped files, counts, ...); raises if none is built. ``hand_over``: see :func:`read_manifest`."""
    version, manifest = open_current(index_dir, hand_over)
    meta = manifest.get("meta")
    if not isinstance(meta, dict):
        raise IndexCorruptError(f"manifest in {version} records no build; {REBUILD_HINT}")
    return version, meta


def make_index_dir(index_dir: Path) -> None:
    """Create the index folder (and those above it); raises :class:`IndexPathError` with what to do."""
    try:
        Path(index_dir).mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise IndexPathError(f"{index_dir} is not a folder (it, or a folder above it, is a file): give --index a folder") from None
    except OSError as exc:
        raise IndexPathError(
            f"cannot create the index at {index_dir} ({exc.strerror or exc}): choose a writable place with --index"
        ) from None


class BuildLock:
    """An exclusive, non-blocking lock on an index folder, held for the length of a build.

    The lock is an ``flock`` on ``.lock``: the operating system drops it when the process dies, so a
    killed build never leaves the index locked.
    """

    def __init__(self, index_dir: Path, wait: float = 0.0) -> None:
        self.index_dir = Path(index_dir)
        self.wait = wait
        self._fd: int | None = None

    def __enter__(self) -> "BuildLock":
        make_index_dir(self.index_dir)
        path = self.index_dir / LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise IndexPathError(
                f"cannot write in the index folder {self.index_dir} ({exc.strerror or exc}): "
                f"choose a writable place with --index"
            ) from None
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    holder = ""
                    try:
                        holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
                    except OSError:
                        pass
                    os.close(fd)
                    who = f" (pid {holder})" if holder.isdigit() else ""
                    raise IndexLockedError(
                        f"another build is updating {self.index_dir}{who}; wait for it to finish and try again"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def unique_token() -> str:
    """A new name part, unique and ordered by time (versions, segments, temporary files)."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"


def publish_manifest(root: Path, manifest: dict) -> str:
    """Write ``v-*/manifest.json`` durably and switch ``CURRENT`` to it (call holding the lock)."""
    token = unique_token()
    tmp = root / f"{TMP_PREFIX}{token}"
    tmp.mkdir()
    with open(tmp / MANIFEST, "w", encoding="utf-8") as f:
        # compact: the C encoder (indent would take the pure-Python one, 10x slower on 20k files' records)
        f.write(json.dumps(manifest, ensure_ascii=False, separators=(",", ":")))
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(tmp)
    final = root / f"{VERSION_PREFIX}{token}"
    os.rename(tmp, final)
    _fsync_dir(root)
    try:
        old = current_version(root)
    except IndexCorruptError:
        old = None
    pointer = root / f"{CURRENT}.{token}"
    with open(pointer, "w", encoding="utf-8") as f:
        f.write(final.name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(pointer, root / CURRENT)
    _fsync_dir(root)
    if old is not None:
        prev = root / f"{PREVIOUS}.{token}"
        prev.write_text(old.name + "\n", encoding="utf-8")
        os.replace(prev, root / PREVIOUS)
    return final.name


def collect_garbage(root: Path, known: dict[str, dict] | None = None, *, sweep: bool = True) -> None:
    """Remove versions, segments and deletion arrays that neither the current nor the previous
    version refers to, and what dead writers left. Call holding the writer's lock. ``known``:
    manifests the caller already holds, by version name (not read again). Without ``sweep`` only
    the top level is cleaned (no manifest is read; segments and deletion arrays wait for a commit)."""
    keep_versions, keep_segments, keep_deletes = set(), set(), set()
    try:
        cur = current_version(root)
    except IndexCorruptError:
        return  # never delete anything when the pointer cannot be read
    names = [cur.name] if cur else []
    try:
        prev = (root / PREVIOUS).read_text(encoding="utf-8").strip()
        if prev:
            names.append(prev)
    except OSError:
        pass
    for name in names:
        keep_versions.add(name)  # even one this rag cannot read: it stays until a newer one replaces it
        if not sweep:
            continue
        try:
            m = (known or {}).get(name) or read_manifest(root / name)
        except (IndexCorruptError, IndexMismatchError):
            continue
        for s in m["segments"]:
            keep_segments.add(s["id"])
            if s.get("deletes"):
                keep_deletes.add(Path(s["deletes"]["path"]).name)
    for p in root.iterdir():
        if p.name.startswith(TMP_PREFIX) or (p.name.startswith(VERSION_PREFIX) and p.name not in keep_versions):
            shutil.rmtree(p, ignore_errors=True)
        elif p.name.startswith((CURRENT + ".", PREVIOUS + ".")):
            p.unlink(missing_ok=True)
    if not sweep:
        return
    for sub, keep in ((SEGMENTS, keep_segments), (DELETES, keep_deletes)):
        d = root / sub
        if d.is_dir():
            for p in d.iterdir():
                if p.name not in keep:
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    merging = root / MERGING
    if merging.is_dir():  # a compaction's leftovers, unless one is running now
        try:
            with BuildLock(merging):
                for p in merging.iterdir():
                    if p.name != LOCK:
                        shutil.rmtree(p, ignore_errors=True)
        except IndexLockedError:
            pass
