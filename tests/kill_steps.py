"""Deterministic kill points for the crash scripts (crash_build.py, crash_index.py).

A *step* is one call of ``os.fsync``, ``os.rename``, ``os.replace`` or ``shutil.rmtree`` (what makes a
write durable, publishes a file or folder, or removes one), and in a build every ``EMBED_STEP``
passages embedded ("embedding") or questions encoded for the confidence model ("calibrating"). The steps of a build or commit follow from its input alone, so a process can
count them on a copy of the index (:func:`count_steps`), then run for real and SIGKILL itself just
before step ``k`` (:func:`kill_at_step`): the kill lands where the test asked, on any machine, at
any speed, instead of wherever a wall-clock timer happens to fire.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

EMBED_STEP = 16  # passages embedded per step


def die(line: str) -> None:
    sys.stderr.write(f"KILL {line}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


@contextmanager
def steps(on_step: Callable[[str], None]) -> Iterator[None]:
    """Call ``on_step(name)`` before each durable step of the block (names: fsync, rename, replace, rmtree)."""
    real = {"fsync": (os, os.fsync), "rename": (os, os.rename), "replace": (os, os.replace),
            "rmtree": (shutil, shutil.rmtree)}

    def wrap(name: str, fn):
        def step(*a, **k):
            on_step(name)
            return fn(*a, **k)
        return step

    for name, (mod, fn) in real.items():
        setattr(mod, name, wrap(name, fn))
    try:
        yield
    finally:
        for name, (mod, fn) in real.items():
            setattr(mod, name, fn)


def embedding_steps(encoder, on_step: Callable[[str], None]) -> None:
    """Make the encoder report a step every EMBED_STEP texts: "embedding" for a build's passages
    (``encode``), "calibrating" for the confidence model's questions (``encode_queries``)."""
    real, real_queries = encoder.encode, encoder.encode_queries
    name = ["embedding"]

    def encode(texts, progress=None, cancel=None):
        def prog(done, total):
            if done % EMBED_STEP == 0 or done == total:
                on_step(name[0])
            if progress is not None:
                progress(done, total)

        return real(texts, progress=prog, cancel=cancel)

    def encode_queries(texts):
        name[0] = "calibrating"
        try:
            return real_queries(texts)
        finally:
            name[0] = "embedding"

    encoder.encode, encoder.encode_queries = encode, encode_queries


def run_killed_at(fraction: float, index: Path, run: Callable[[Path], None], encoder=None) -> None:
    """Count the steps of ``run(copy)`` on a copy of the index folder, then ``run(index)`` and SIGKILL
    the process just before step ``1 + int(fraction * total)``, having written ``KILL step k/total
    <name>`` on stderr. Exits with status 3 if the run ends first (the count was wrong)."""
    counted: list[str] = []
    sink = [counted.append]

    def on_step(name: str) -> None:
        sink[0](name)

    if encoder is not None:
        embedding_steps(encoder, on_step)
    dry = index.with_name(index.name + ".dry")
    shutil.rmtree(dry, ignore_errors=True)
    if index.exists():
        shutil.copytree(index, dry, symlinks=True)
    with steps(on_step):
        run(dry)
    shutil.rmtree(dry, ignore_errors=True)
    total = len(counted)
    if total < 1:
        raise SystemExit(f"nothing to kill: the run takes {total} steps")
    k = 1 + min(int(fraction * total), total - 1)
    seen = [0]

    def kill_at(name: str) -> None:
        seen[0] += 1
        if seen[0] == k:
            die(f"step {k}/{total} {name}")

    sink[0] = kill_at
    with steps(on_step):
        run(index)
    sys.stderr.write(f"NO KILL: the run ended after {seen[0]} of the {total} steps counted\n")
    raise SystemExit(3)
