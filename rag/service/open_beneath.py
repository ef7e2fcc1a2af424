"""Open a file inside a folder so that what is opened is inside it, even while the folder changes.

Checking a path and opening it later is a race: between the two, a file can be replaced by a link
to ``/etc/passwd`` (``os.replace`` of a prepared link is atomic). :func:`open_beneath` never opens
a path that it checked earlier. It walks the path one name at a time, each opened relative to the
folder opened before it (``dir_fd``) with ``O_NOFOLLOW``, so the kernel refuses to follow a link at
the moment of opening. A link it meets is read (``readlink``) and followed by the walk itself, name
by name the same way, while it stays inside the folder (the index follows such links too); one that
leads out raises :class:`LeavesFolder`. The handle returned is the file the walk reached: the
caller reads from it and never opens the path again.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from rag.errors import RagError

MAX_LINKS = 40  # links followed in one path (as the kernel's own limit)

_O_PATH = getattr(os, "O_PATH", 0)  # Linux: a folder handle that needs no read permission
_DIR = (_O_PATH or os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK  # O_NONBLOCK: a FIFO does not block the open
_WALKS = os.open in os.supports_dir_fd and os.readlink in os.supports_dir_fd and hasattr(os, "O_NOFOLLOW")


class LeavesFolder(RagError):
    """The path leads outside the folder (by ``..`` or through a link)."""


class NotAFile(RagError):
    """The path names a folder, a device or a pipe, not a regular file."""


def open_beneath(root: str | Path, parts: Sequence[str]) -> int:
    """A read-only handle (``os.open``'s file descriptor) on the regular file ``root/parts...``.

    Links are followed only while they stay inside ``root`` (``root`` itself may be reached through
    links). Raises :class:`LeavesFolder`, :class:`NotAFile`, ``FileNotFoundError``,
    ``NotADirectoryError`` (a file where a folder was named) or another ``OSError``. The caller
    closes the handle.
    """
    root = Path(root)
    fd = _walk(root, list(parts)) if _WALKS else _open_checked(root, parts)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotAFile("not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _walk(root: Path, todo: list[str]) -> int:
    nofollow = os.O_NOFOLLOW
    prefixes = {str(root.absolute()), str(root.resolve())}  # how an absolute link names the folder
    dirs = [os.open(root, _DIR)]  # the folders walked so far; dirs[0] is root
    links = 0
    try:
        while todo:
            name = todo.pop(0)
            if name in ("", "."):
                continue
            if name == "..":
                if len(dirs) == 1:
                    raise LeavesFolder("'..' leads above the folder")
                os.close(dirs.pop())
                continue
            last = not todo
            try:
                fd = os.open(name, (_FILE if last else _DIR) | nofollow, dir_fd=dirs[-1])
            except OSError as exc:
                # ELOOP: the name is a link; ENOTDIR, with O_DIRECTORY: a link or a file
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many links") from None
                target = _link_target(name, dirs[-1])
                if target is None:  # not a link: a file named as a folder, or a link replaced meanwhile
                    if exc.errno == errno.ENOTDIR:
                        raise
                    todo.insert(0, name)  # opened again, as what it is now
                    continue
                if target.startswith("/"):
                    rest = _inside(target, prefixes)
                    if rest is None:
                        raise LeavesFolder("a link leads outside the folder") from None
                    for d in dirs[1:]:
                        os.close(d)
                    del dirs[1:]
                    todo[:0] = rest
                else:
                    todo[:0] = target.split("/")
                continue
            if last:
                return fd
            dirs.append(fd)
        raise NotAFile("the path names the folder itself")
    finally:
        for d in dirs:
            os.close(d)


def _link_target(name: str, dir_fd: int) -> str | None:
    """What the link ``name`` holds; None when ``name`` is not a link (any more)."""
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return None
        raise


def _inside(target: str, prefixes: set[str]) -> list[str] | None:
    """The names of absolute path ``target`` below the folder, or None when it is not below it."""
    for p in prefixes:
        if target == p or target.startswith(p.rstrip("/") + "/"):
            return target[len(p):].split("/")
    return None


def _open_checked(root: Path, parts: Sequence[str]) -> int:
    """Where ``dir_fd`` and ``O_NOFOLLOW`` are missing (Windows): open the resolved path, then check
    that the handle is the file found inside the folder (the same file identity)."""
    base = root.resolve()
    real = base.joinpath(*parts).resolve(strict=True)
    try:
        real.relative_to(base)
    except ValueError:
        raise LeavesFolder("a link leads outside the folder") from None
    fd = os.open(real, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    if not os.path.samestat(os.fstat(fd), os.stat(real)):
        os.close(fd)
        raise LeavesFolder("the file changed while it was opened")
    return fd
