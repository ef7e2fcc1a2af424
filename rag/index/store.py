"""The index folder: versions written beside each other and switched in one atomic step.

Layout of ``indexes/NAME/``::

    CURRENT              the name of the complete version that readers use (replaced atomically)
    v-<time>-<id>/       a complete version: manifest.json, passages.jsonl, vectors.npy,
                         dense.faiss, bm25/ (plain JSON and .npy files; no pickle anywhere)
    .tmp-<id>/           a version being written (removed by the next build if a build died)
    .lock                held by the build that is running

A build writes everything into ``.tmp-*``, syncs it to disk, renames it to ``v-*`` and then
replaces ``CURRENT``. A crash at any moment leaves ``CURRENT`` naming a complete version.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from rag.hashing import sha256_file
from rag.errors import IndexCorruptError, IndexLockedError, IndexMismatchError, IndexMissingError, IndexPathError

FORMAT = "rag-index"
FORMAT_VERSION = 1
CURRENT = "CURRENT"
VECTORS = "vectors.npy"  # the passage vectors of a version, rows aligned with passages.jsonl
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


def _fsync_tree(path: Path) -> None:
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as f:
                os.fsync(f.fileno())
        _fsync_dir(Path(dirpath))


def checksums(folder: Path) -> dict[str, dict]:
    """Size and sha256 of every file of a version, by relative path."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            out[p.relative_to(folder).as_posix()] = {"size": p.stat().st_size, "sha256": sha256_file(p)}
    return out


def _listed(folder: Path, manifest: dict) -> dict:
    listed = manifest.get("checksums")
    if not isinstance(listed, dict) or not all(isinstance(m, dict) for m in listed.values()):
        raise IndexCorruptError(f"manifest in {folder} lists no files; {REBUILD_HINT}")
    return listed


def check_sizes(folder: Path, manifest: dict) -> None:
    """Every file the manifest lists is present with its recorded size; reads no file.

    This is what opening an index checks (its cost does not grow with the index): a truncated or
    missing file is caught here, damage of the same size by :func:`verify` (`rag status --verify`).
    """
    for rel, meta in _listed(folder, manifest).items():
        try:
            size = (folder / rel).stat().st_size
        except FileNotFoundError:
            raise IndexCorruptError(f"index file {rel} is missing from {folder}; {REBUILD_HINT}") from None
        except OSError as exc:
            raise IndexCorruptError(f"cannot read index file {rel} in {folder} ({exc.strerror}); {REBUILD_HINT}") from None
        if size != meta.get("size"):
            raise IndexCorruptError(
                f"index file {rel} has {size} bytes, expected {meta.get('size')} (damaged); {REBUILD_HINT}"
            )


def verify(folder: Path, manifest: dict) -> int:
    """Check every file the manifest lists against its size and sha256 (reads the whole index).

    Returns how many files were checked; raises :class:`IndexCorruptError` naming every damaged file.
    """
    listed = _listed(folder, manifest)
    check_sizes(folder, manifest)
    damaged = []
    for rel, meta in listed.items():
        try:
            ok = sha256_file(folder / rel) == meta.get("sha256")
        except OSError:
            ok = False
        if not ok:
            damaged.append(rel)
    if damaged:
        names = ", ".join(damaged)
        raise IndexCorruptError(
            f"{len(damaged)} index file{'s' if len(damaged) > 1 else ''} in {folder} "
            f"{'do' if len(damaged) > 1 else 'does'} not match {'their checksums' if len(damaged) > 1 else 'its checksum'} "
            f"(damaged: {names}); {REBUILD_HINT}"
        )
    return len(listed)


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


def clean_stale(index_dir: Path) -> None:
    """Remove what dead builds left: temporary folders, and versions that are neither current nor previous.

    Call only while holding the :class:`BuildLock`.
    """
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        return
    try:
        current = current_version(index_dir)
    except IndexCorruptError:
        current = None
    keep = {current.name} if current else set()
    prev = _previous_name(index_dir)
    if prev:
        keep.add(prev)
    for p in index_dir.iterdir():
        if p.name.startswith(TMP_PREFIX) or (p.name.startswith(VERSION_PREFIX) and p.name not in keep):
            shutil.rmtree(p, ignore_errors=True)
        elif p.name.startswith((CURRENT + ".", ".previous.")):
            try:
                p.unlink()
            except OSError:
                pass


def _previous_name(index_dir: Path) -> str | None:
    try:
        name = (index_dir / ".previous").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name or None


def publish(index_dir: Path, write: Callable[[Path], dict]) -> Path:
    """Write a new version with ``write(tmp_folder) -> manifest`` and make it current atomically.

    The manifest returned by ``write`` gets the checksums of the files and is written last. The
    previous version is kept (readers that opened it a moment ago may still be loading it); older
    ones are removed.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    token = f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
    tmp = index_dir / f"{TMP_PREFIX}{token}"
    tmp.mkdir()
    try:
        manifest = write(tmp)
        manifest["checksums"] = checksums(tmp)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        _fsync_tree(tmp)
        final = index_dir / f"{VERSION_PREFIX}{token}"
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(index_dir)
    try:
        old = current_version(index_dir)
    except IndexCorruptError:
        old = None
    pointer_tmp = index_dir / f"{CURRENT}.{token}"
    with open(pointer_tmp, "w", encoding="utf-8") as f:
        f.write(final.name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(pointer_tmp, index_dir / CURRENT)
    _fsync_dir(index_dir)
    if old is not None:
        prev_tmp = index_dir / f".previous.{token}"
        prev_tmp.write_text(old.name + "\n", encoding="utf-8")
        os.replace(prev_tmp, index_dir / ".previous")
    clean_stale(index_dir)
    return final
