"""A build killed at any moment leaves the previous complete index, and the next build completes."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from fakes import FakeEncoder
from rag import Retriever, build_index
from rag.index import store

CRASH = Path(__file__).with_name("crash_build.py")

pytestmark = pytest.mark.slow


def run_crash(seeds: Path, idx: Path, point: str, fraction: float = 0.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CRASH), str(seeds), str(idx), point, str(fraction)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def answers(idx: Path) -> list[str]:
    r = Retriever.open(idx, encoder=FakeEncoder())
    return [str(h.citation) for h in r.search("ships harbour winter", k=3, mode="hybrid")]


def add_docs(seeds: Path, n: int) -> None:
    for i in range(n):
        (seeds / f"gen{i:03d}.txt").write_text(
            f"Document {i} talks about topic {i % 7}.\n\nIt has a second paragraph {i}.\n", encoding="utf-8"
        )


# Where each kill lands, and whether the new version was already published there.
PUBLISHED_AT = {"embedding": False, "writing": False, "rename": False, "switch": False, "cleanup": True}


@pytest.mark.parametrize("point", list(PUBLISHED_AT))
def test_kill_at_each_stage_keeps_a_complete_index(seeds, tmp_path, point):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    (seeds / "extra.txt").write_text("An extra note about the harbour.\n", encoding="utf-8")
    build_index(seeds, idx, encoder=FakeEncoder())  # two versions now: current and previous
    oldest = store.current_version(idx)
    (seeds / "extra.txt").unlink()
    build_index(seeds, idx, encoder=FakeEncoder())
    before = answers(idx)
    before_version = store.current_version(idx)
    assert sorted(p.name for p in idx.iterdir() if p.name.startswith("v-")) == sorted([oldest.name, before_version.name])
    add_docs(seeds, 30)

    proc = run_crash(seeds, idx, point)

    assert proc.returncode == -9, proc.stderr[-2000:]
    kill = [line for line in proc.stderr.splitlines() if line.startswith("KILL ")]
    assert len(kill) == 1 and kill[0].split()[1] == point, proc.stderr[-2000:]
    now = store.current_version(idx)
    r = Retriever.open(idx, encoder=FakeEncoder())  # loads and verifies: never a half-written index
    if PUBLISHED_AT[point]:
        # Killed while removing the oldest version, after the switch: the new index is complete.
        assert now != before_version and now.name not in (oldest.name, before_version.name)
        assert kill[0] == f"KILL cleanup removing {oldest.name} while CURRENT={now.name}"
        assert oldest.exists() and not (oldest / store.MANIFEST).exists()  # the kill came mid-removal
        assert len(r.passages) == 6 + 60
        assert r.search("topic", k=1, mode="bm25")[0].source.startswith("gen")
    else:
        assert now == before_version
        assert len(r.passages) == 6
        assert answers(idx) == before
    stats = build_index(seeds, idx, encoder=FakeEncoder())
    assert stats.passages == 6 + 60
    assert not oldest.exists()  # the next build finishes what the dead one left
    leftovers = [p.name for p in idx.iterdir() if p.name.startswith((".tmp-", "CURRENT."))]
    assert leftovers == []


def test_kill_at_steps_spread_over_a_build(seeds, tmp_path):
    """The same build killed again and again, each time at a later point of its durable steps
    (tests/kill_steps.py), until a kill lands after the switch: until then the old index answers,
    untouched; from then on the complete new one."""
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    before = answers(idx)
    add_docs(seeds, 60)
    rng = random.Random(1234)
    rounds, outcomes = 8, []
    for round_ in range(rounds):
        proc = run_crash(seeds, idx, "step", (round_ + rng.random()) / rounds)
        assert proc.returncode == -9 and "KILL step " in proc.stderr, proc.stderr[-2000:]
        r = Retriever.open(idx, encoder=FakeEncoder())
        n = len(r.passages)
        outcomes.append(n)
        topic = r.search("topic", k=1, mode="bm25")
        if n == 6:  # the old index, untouched ("topic" is in none of its documents)
            assert answers(idx) == before and topic == []
        else:  # the complete new one, nothing in between
            assert n == 6 + 120, outcomes
            assert topic[0].source.startswith("gen")
            break  # published: later runs would only reuse it
    assert outcomes[0] == 6 and outcomes[-1] == 6 + 120, outcomes  # both sides of the switch were hit
    stats = build_index(seeds, idx, encoder=FakeEncoder())
    assert stats.passages == 6 + 120
    assert not [p for p in idx.iterdir() if p.name.startswith(".tmp-")]


def _contents(idx: Path) -> list[tuple[str, str]]:
    r = Retriever.open(idx, encoder=FakeEncoder())
    return sorted((str(p.citation), p.text) for p in r.passages)


@pytest.mark.parametrize("point", ["writing", "rename", "switch"])
def test_kill_during_an_incremental_change_keeps_the_old_index(seeds, tmp_path, point):
    """An edit, a removal and an addition in one build (deletion arrays, a new segment, a manifest):
    killed before the switch, the old index answers; the next build completes the change."""
    idx = tmp_path / "idx"
    add_docs(seeds, 20)
    build_index(seeds, idx, encoder=FakeEncoder())
    before = _contents(idx)
    f = seeds / "cats.txt"
    f.write_text(f.read_text(encoding="utf-8").replace("purrs", "purrs loudly"), encoding="utf-8")
    (seeds / "bread.txt").unlink()
    (seeds / "owls.txt").write_text("Owls hunt at night.\n\nOwls have silent feathers.\n", encoding="utf-8")

    proc = run_crash(seeds, idx, point)

    assert proc.returncode == -9, proc.stderr[-2000:]
    assert [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("KILL ")] == [point]
    assert _contents(idx) == before
    build_index(seeds, idx, encoder=FakeEncoder())
    fresh = tmp_path / "fresh"
    build_index(seeds, fresh, encoder=FakeEncoder())
    assert _contents(idx) == _contents(fresh) != before
    assert not [p for p in idx.rglob(".tmp-*")]
