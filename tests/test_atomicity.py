"""A build killed at any moment leaves the previous complete index, and the next build completes."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from fakes import FakeEncoder
from rag import Retriever, build_index, store

CRASH = Path(__file__).with_name("crash_build.py")


def run_crash(seeds: Path, idx: Path, point: str, delay: float = 0.0) -> int:
    proc = subprocess.run(
        [sys.executable, str(CRASH), str(seeds), str(idx), point, str(delay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode


def answers(idx: Path) -> list[str]:
    r = Retriever.open(idx, encoder=FakeEncoder())
    return [str(h.citation) for h in r.search("ships harbour winter", k=3, mode="hybrid")]


def add_docs(seeds: Path, n: int) -> None:
    for i in range(n):
        (seeds / f"gen{i:03d}.txt").write_text(
            f"Document {i} talks about topic {i % 7}.\n\nIt has a second paragraph {i}.\n", encoding="utf-8"
        )


@pytest.mark.parametrize("point", ["embedding", "writing", "rename", "switch", "cleanup"])
def test_kill_at_each_stage_keeps_a_complete_index(seeds, tmp_path, point):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    before = answers(idx)
    before_version = store.current_version(idx)
    add_docs(seeds, 30)

    assert run_crash(seeds, idx, point) == -9

    now = store.current_version(idx)
    got = answers(idx)  # loads and answers: never a half-written index
    if now == before_version:
        assert got == before
    else:  # killed after the switch: the new index is complete
        assert point == "cleanup"
        assert len(Retriever.open(idx, encoder=FakeEncoder()).passages) == 7 + 60
    stats = build_index(seeds, idx, encoder=FakeEncoder())
    assert stats.passages == 7 + 60
    leftovers = [p.name for p in idx.iterdir() if p.name.startswith((".tmp-", "CURRENT."))]
    assert leftovers == []


def test_kill_at_random_moments(seeds, tmp_path):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    add_docs(seeds, 60)
    rng = random.Random(1234)
    complete = set()
    for _ in range(8):
        run_crash(seeds, idx, "random", delay=rng.uniform(0.05, 1.2))
        r = Retriever.open(idx, encoder=FakeEncoder())
        n = len(r.passages)
        assert n in (7, 7 + 120), n  # the old index or the complete new one, nothing in between
        complete.add(n)
        assert r.search("topic", k=1, mode="bm25")  or n == 7
    stats = build_index(seeds, idx, encoder=FakeEncoder())
    assert stats.passages == 7 + 120
    assert not [p for p in idx.iterdir() if p.name.startswith(".tmp-")]
