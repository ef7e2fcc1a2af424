"""Run a build that kills itself with SIGKILL at a chosen point (used by the atomicity tests).

usage: python crash_build.py SEEDS INDEX POINT [FRACTION]
POINT: none | slow | hold | embedding | writing | rename | switch | cleanup | step
(hold: embed only once the file INDEX.release exists, so the build holds its lock until then;
step: count the build's durable steps on a copy of INDEX, then die just before the step at FRACTION
of them, 0 <= FRACTION < 1: see kill_steps.py)

Just before a planned kill it writes ``KILL <point> <detail>`` on stderr, so a test can check that
the kill landed where it was meant to (and not, say, in an earlier step that the patch also hit).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes import FakeEncoder  # noqa: E402
from kill_steps import run_killed_at  # noqa: E402

import numpy as np  # noqa: E402

import rag.indexing.build  # noqa: E402
import rag.index.store as store  # noqa: E402
import rag.index.local as local  # noqa: E402


def die(point: str, detail: str = "") -> None:
    sys.stderr.write(f"KILL {point} {detail}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    seeds, index, point = sys.argv[1], sys.argv[2], sys.argv[3]
    fraction = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    enc = FakeEncoder(delay={"embedding": 0.002, "slow": 0.02}.get(point, 0.0))
    if point == "hold":
        orig_hold = enc.encode
        release = Path(index + ".release")

        def encode(texts, progress=None, cancel=None):
            deadline = time.monotonic() + 300
            while not release.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            return orig_hold(texts, progress=progress, cancel=cancel)

        enc.encode = encode
    elif point == "embedding":
        orig = enc.encode

        def encode(texts, progress=None, cancel=None):
            def prog(done, total):
                if done >= max(1, total // 2):
                    die(point, f"{done}/{total}")

            return orig(texts, progress=prog, cancel=cancel)

        enc.encode = encode
    elif point == "writing":
        orig_save = np.save

        def save(file, arr, **kw):  # np.save(open file or path): the index's arrays are written through it
            orig_save(file, arr, **kw)
            path = getattr(file, "name", file)
            if hasattr(file, "flush"):
                file.flush()
            with open(path, "r+b") as f:  # leave a half-written file behind, then die
                f.truncate(os.path.getsize(path) // 2)
            die(point, Path(path).name)

        np.save = save
    elif point == "rename":
        real_rename = os.rename

        def rename(src, dst, *a, **k):
            if Path(src).name.startswith(store.TMP_PREFIX):  # the finished version, before it is renamed
                die(point, Path(src).name)
            return real_rename(src, dst, *a, **k)

        local.os.rename = rename
    elif point == "switch":
        real_replace = os.replace

        def replace(src, dst):
            if Path(dst).name == store.CURRENT:
                die(point, Path(src).name)
            return real_replace(src, dst)

        local.os.replace = replace
    elif point == "cleanup":
        # Die while an old version is being removed: after the new version is published and CURRENT
        # names it. One file of the old version is deleted first, so it is left half removed.
        real_rmtree = shutil.rmtree

        def rmtree(path, *a, **k):
            p = Path(path)
            if p.name.startswith(store.VERSION_PREFIX):
                current = (p.parent / store.CURRENT).read_text(encoding="utf-8").strip()
                (p / store.MANIFEST).unlink()
                die(point, f"removing {p.name} while CURRENT={current}")
            return real_rmtree(path, *a, **k)

        store.shutil.rmtree = rmtree
    elif point == "step":
        run_killed_at(fraction, Path(index), lambda idx: rag.indexing.build.build_index(seeds, idx, encoder=enc), enc)
    rag.indexing.build.build_index(seeds, index, encoder=enc)


if __name__ == "__main__":
    main()
