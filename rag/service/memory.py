"""The memory of a long-running server across index versions (glibc's allocator; no-ops elsewhere).

An update opens the new version's large buffers (the FAISS flat index copies every passage vector:
21 MB on SciFact) lazily, in whichever request thread searches it first, and the retired version's
are freed by whichever request finishes with it last. glibc's default *dynamic* mmap threshold rises
to the size of the first such buffer freed, so the next ones come from the threads' malloc arenas;
a freed buffer there merges into the arena's top, which ``malloc_trim`` does not return for thread
arenas and which is only trimmed above twice that threshold. Measured on SciFact (5,183 abstracts,
10 updates under 8 clients, bench/serve_load.py): RSS 381 MB after the load, 449 MB after the updates,
all of the growth in thread arenas. With the thresholds fixed (:func:`pin_malloc_thresholds`), each
large buffer is its own mapping, unmapped when freed: 344 MB after the load, 346 MB after the updates.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
MMAP_THRESHOLD = 1 << 20  # bytes: larger allocations get their own mapping, returned to the system when freed
TRIM_THRESHOLD = 128 << 10  # bytes: glibc's default; free memory above an arena's top beyond this is returned


def _libc():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    return lib if hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim") else None  # glibc only


def pin_malloc_thresholds(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Fix glibc's mmap and trim thresholds (setting them stops their dynamic rise), so that memory
    freed when a retired index version goes is given back to the system, whichever thread frees it.
    Process-wide: call it once at the start of a server, not from a library. True when set."""
    lib = _libc()
    if lib is None:
        return False
    return bool(lib.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(mmap_threshold))) \
        and bool(lib.mallopt(M_TRIM_THRESHOLD, ctypes.c_int(trim_threshold)))


def release_memory() -> None:
    """Give the memory of a retired version back to the system: collect it, then ask glibc to return
    its free heap pages (``malloc_trim``), which it otherwise keeps for the process."""
    gc.collect()
    lib = _libc()
    if lib is not None:
        lib.malloc_trim(0)
