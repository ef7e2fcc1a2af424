"""The index folder's versioning: the ``CURRENT`` pointer, the manifest format, the writer's lock.

Layout of ``indexes/NAME/`` (the local backend's, :mod:`rag.index.local`)::

    CURRENT              the name of the complete version that readers use (replaced atomically)
    v-<time>-<id>/       a version: manifest.json (its segments, their deletions, the build's
                         metadata under "meta"); the data lives in segments/ and deletes/
    .tmp-<id>            something being written (removed by the next writer if one died)
    .lock                held by the writer that is running

A commit writes its new files, syncs them, writes ``v-*/manifest.json`` and then replaces
``CURRENT``. A crash at any moment leaves ``CURRENT`` naming a complete version.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from pathlib import Path

from rag.hashing import sha256_file  # noqa: F401 - the index modules hash through this name
from rag.errors import IndexCorruptError, IndexLockedError, IndexMismatchError, IndexMissingError, IndexPathError

FORMAT = "rag-segments"
FORMAT_VERSION = 2  # 1 was "rag-index": one folder per version, rebuilt whole by every build
OLD_FORMAT = "rag-index"
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
LOCK = ".lock"
TMP_PREFIX = ".tmp-"
VERSION_PREFIX = "v-"
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


def read_manifest(version_dir: Path) -> dict:
    path = Path(version_dir) / MANIFEST
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


def open_current(index_dir: Path) -> tuple[Path, dict]:
    """The current version folder and its manifest; raises if none is built."""
    index_dir = Path(index_dir)
    version = current_version(index_dir)
    if version is None:
        if index_dir.is_dir() and (index_dir / MANIFEST).exists():
            raise IndexMismatchError(f"{index_dir} holds an index of an unknown layout; {REBUILD_HINT}")
        raise IndexMissingError(f"no index at {index_dir}: run `rag index` to build it")
    return version, read_manifest(version)


def open_meta(index_dir: Path) -> tuple[Path, dict]:
    """The current version folder and the build's metadata it records (model, seeds root, files,
    skipped files, counts, ...); raises if none is built."""
    version, manifest = open_current(index_dir)
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
