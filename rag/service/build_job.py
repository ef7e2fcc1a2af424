"""One incremental update in its own process, so that a long-running server does not keep the
document encoder (the full model) in its memory after an update.

    python -m rag.service.build_job SEEDS INDEX [LOCK_WAIT [PARENT_PID [rebuild]]]

prints one JSON object per line: ``{"progress": [stage, done, total]}`` while it builds, then
``{"stats": {...}}`` or ``{"error": "one line"}`` (exit 1). :func:`build_in_subprocess` runs it,
stops it after a time limit or when cancelled, keeps the last lines of its stderr for the error,
and the child ends itself when the server that started it is gone (``kill -9`` included).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from rag.errors import RagError
from rag.types import BuildStats, Skipped

UPDATE_TIMEOUT = 30 * 60.0  # seconds an update may run before it is stopped
PARENT_CHECK = 1.0  # seconds between the child's looks at whether its server is still there
GUARD_CHECK = 0.25  # seconds between the parent's looks at the time limit and the cancel event
STDERR_LINES = 20  # lines of the child's stderr kept for the error


def failure_message(exc: BaseException) -> str:
    """One line for an update that failed with ``exc``: a full disk says what to do."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "the disk is full: free space, then update again (the index is unchanged)"
    return " ".join(str(exc).split())


def _stats_dict(s: BuildStats) -> dict:
    return {"files": s.files, "passages": s.passages, "embedded": s.embedded, "reused": s.reused, "removed": s.removed,
            "skipped": [[k.source, k.reason] for k in s.skipped], "warnings": s.warnings, "seconds": s.seconds,
            "changed": s.changed, "encoder": s.encoder}


def build_in_subprocess(seeds: str | Path, index: str | Path, progress=None, lock_wait: float = 30.0,
                        timeout: float = UPDATE_TIMEOUT, cancel: threading.Event | None = None, rebuild: bool = False,
                        **_ignored) -> BuildStats:
    """:func:`rag.indexing.build.build_index` in a child process; raises :class:`RagError` with its
    message, or when it runs past ``timeout`` seconds or ``cancel`` is set (it is then killed)."""
    cmd = [sys.executable, "-m", "rag.service.build_job", str(seeds), str(index), str(lock_wait), str(os.getpid())]
    if rebuild:
        cmd.append("rebuild")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
                            errors="replace")
    stderr: deque[str] = deque(maxlen=STDERR_LINES)
    reader = threading.Thread(target=lambda: stderr.extend(proc.stderr), name="rag-update-stderr", daemon=True)
    reader.start()
    stopped: list[str] = []  # why the child was killed
    ended = threading.Event()

    def guard() -> None:
        deadline = time.monotonic() + timeout
        while not ended.wait(GUARD_CHECK):
            why = "cancelled" if cancel is not None and cancel.is_set() else ("late" if time.monotonic() > deadline else "")
            if why:
                stopped.append(why)
                proc.kill()
                return

    threading.Thread(target=guard, name="rag-update-guard", daemon=True).start()
    result: dict = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "progress" in msg and progress is not None:
                progress(*msg["progress"])
            result.update({k: v for k, v in msg.items() if k in ("stats", "error")})
        rc = proc.wait()
    finally:
        ended.set()
        if proc.poll() is None:  # interrupted here: the child does not outlive its update
            proc.kill()
            proc.wait()
    reader.join(5)
    if stopped == ["late"]:
        raise RagError(f"the update ran longer than {timeout:g} s and was stopped; the index is unchanged")
    if stopped:
        raise RagError("the update was cancelled; the index is unchanged")
    if "error" in result:
        raise RagError(result["error"])
    if "stats" not in result:
        said = " | ".join(x.strip() for x in list(stderr)[-3:] if x.strip())
        raise RagError(f"the update process ended without a result (exit status {rc}"
                       f"{': ' + ' '.join(said.split())[-500:] if said else ''}); the index is unchanged")
    s = result["stats"]
    return BuildStats(files=s["files"], passages=s["passages"], embedded=s["embedded"], reused=s["reused"],
                      removed=s["removed"], skipped=[Skipped(a, b) for a, b in s["skipped"]], warnings=s["warnings"],
                      seconds=s["seconds"], changed=s["changed"], encoder=s["encoder"])


def _end_with_parent(parent: int) -> None:
    """Exit this process when ``parent`` (the server) is gone: the child is then given to another parent."""
    def look() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(3)
            threading.Event().wait(PARENT_CHECK)

    threading.Thread(target=look, name="rag-parent-check", daemon=True).start()


def main(argv: list[str]) -> int:
    from rag.indexing.build import build_index  # heavy: in the child only (the chat and servers import this module)

    seeds, index, wait = argv[0], argv[1], float(argv[2]) if len(argv) > 2 else 30.0
    if len(argv) > 3:
        _end_with_parent(int(argv[3]))
    rebuild = argv[4:5] == ["rebuild"]

    def progress(stage: str, done: int, total: int) -> None:
        print(json.dumps({"progress": [stage, done, total]}), flush=True)

    try:
        stats = build_index(seeds, index, rebuild=rebuild, progress=progress, lock_wait=wait,
                            export_query_encoder="background")
    except (RagError, OSError) as exc:
        print(json.dumps({"error": failure_message(exc)}), flush=True)
        return 1
    print(json.dumps({"stats": _stats_dict(stats)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
