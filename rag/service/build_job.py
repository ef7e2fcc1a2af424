"""One incremental update in its own process, so that a long-running server does not keep the
document encoder (the full model) in its memory after an update.

    python -m rag.service.build_job SEEDS INDEX

prints one JSON object per line: ``{"progress": [stage, done, total]}`` while it builds, then
``{"stats": {...}}`` or ``{"error": "one line"}`` (exit 1). :func:`build_in_subprocess` runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rag.errors import RagError
from rag.types import BuildStats, Skipped


def _stats_dict(s: BuildStats) -> dict:
    return {"files": s.files, "passages": s.passages, "embedded": s.embedded, "reused": s.reused, "removed": s.removed,
            "skipped": [[k.source, k.reason] for k in s.skipped], "warnings": s.warnings, "seconds": s.seconds,
            "changed": s.changed, "encoder": s.encoder}


def build_in_subprocess(seeds: str | Path, index: str | Path, progress=None, lock_wait: float = 30.0, **_ignored) -> BuildStats:
    """:func:`rag.indexing.build.build_index` in a child process; raises :class:`RagError` with its message."""
    cmd = [sys.executable, "-m", "rag.service.build_job", str(seeds), str(index), str(lock_wait)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dict(os.environ))
    result: dict = {}
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
    if "error" in result:
        raise RagError(result["error"])
    if "stats" not in result:
        raise RagError(f"the update process ended without a result (exit status {rc}); the index is unchanged")
    s = result["stats"]
    return BuildStats(files=s["files"], passages=s["passages"], embedded=s["embedded"], reused=s["reused"],
                      removed=s["removed"], skipped=[Skipped(a, b) for a, b in s["skipped"]], warnings=s["warnings"],
                      seconds=s["seconds"], changed=s["changed"], encoder=s["encoder"])


def main(argv: list[str]) -> int:
    from rag.indexing.build import build_index

    seeds, index, wait = argv[0], argv[1], float(argv[2]) if len(argv) > 2 else 30.0

    def progress(stage: str, done: int, total: int) -> None:
        print(json.dumps({"progress": [stage, done, total]}), flush=True)

    try:
        stats = build_index(seeds, index, progress=progress, lock_wait=wait, export_query_encoder="background")
    except (RagError, OSError) as exc:
        print(json.dumps({"error": " ".join(str(exc).split())}), flush=True)
        return 1
    print(json.dumps({"stats": _stats_dict(stats)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
