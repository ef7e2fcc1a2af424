"""Apply one change to a segmented index (populated by test_index_backend.populate), killing the
process with SIGKILL at a chosen point (used by the incremental crash tests).

usage: python crash_index.py INDEX POINT [FRACTION]
POINT: none | segment | deletes | manifest | switch | collect | compact-switch | step
(step: count the change's durable steps on a copy of INDEX, then die just before the step at
FRACTION of them, 0 <= FRACTION < 1: see kill_steps.py)
The change: upsert three passages (one replacing an existing key), delete two, commit; then compact
every segment into one.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rag.index.local as local  # noqa: E402
import rag.index.merge as merge  # noqa: E402
import rag.index.segments as segments  # noqa: E402
import rag.index.store as store  # noqa: E402
from index_records import rec  # noqa: E402
from kill_steps import run_killed_at  # noqa: E402


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    idx, point = Path(sys.argv[1]), sys.argv[2]
    fraction = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    real_replace, real_rename = os.replace, os.rename
    if point == "segment":  # half-written segment file
        real_save = segments._save

        def save(folder, name, arr):
            real_save(folder, name, arr)
            if name == "post_rows.npy":
                with open(folder / name, "r+b") as f:
                    f.truncate(os.path.getsize(folder / name) // 2)
                die()

        segments._save = save
    elif point == "deletes":
        local._write_npy_durably = lambda *a, **k: die()
    elif point == "manifest":
        local.os.rename = lambda src, dst: die() if Path(dst).name.startswith("v-") else real_rename(src, dst)
    elif point == "switch":
        local.os.replace = lambda src, dst: die() if Path(dst).name == store.CURRENT else real_replace(src, dst)
    elif point == "collect":
        local.collect_garbage = lambda *a, **k: die()
    elif point == "compact-switch":
        calls = []

        def replace(src, dst):
            if Path(dst).name == store.CURRENT:
                calls.append(dst)
                if len(calls) == 2:
                    die()
            return real_replace(src, dst)

        local.os.replace = replace
    elif point == "step":
        run_killed_at(fraction, idx, change)
    change(idx)


def change(idx: Path) -> None:
    with local.LocalIndex.open(idx, writable=True, hnsw_threshold=10_000) as w:
        w.upsert([rec(1, 3), rec(700), rec(701)])
        w.delete(["doc3.txt#0", "doc10.txt#2"])
        w.commit()
    merge.compact(idx, only=[s["id"] for s in local.LocalIndex.open(idx).segments()], hnsw_threshold=10_000)


if __name__ == "__main__":
    main()
