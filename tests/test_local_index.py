"""The local segmented backend (rag.index.local) beyond the contract that every backend meets
(tests/test_index_backend.py): HNSW segments, commits that touch only what changed, compaction beside
readers, checksums, and crash safety of the incremental path."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rag.index.local as local_mod
import rag.index.segments as segments_mod
from rag.errors import IndexCorruptError
from rag.index.local import LocalIndex
from rag.index.merge import MergePolicy, compact, plan
from rag.documents.tokens import tokenize

from index_records import dense_keys, lexical_keys, payloads_by_key, populate, rec, vec_of  # noqa: E402

CRASH = Path(__file__).with_name("crash_index.py")
QUERY = tokenize("ship in the harbour in winter")


def test_hnsw_segments_exclude_deleted_rows(tmp_path):
    live = populate(tmp_path / "idx", hnsw_threshold=30)  # the 60- and 40-row segments are HNSW
    r = LocalIndex.open(tmp_path / "idx")
    assert {s["kind"] for s in r.segments()} == {"hnsw", "flat"}
    assert len(r.segments()) == 4 and any(s["deleted"] for s in r.segments())
    keys = list(live)
    mat = np.stack([live[k].vector for k in keys])
    recall = []
    for i in range(10):
        q = vec_of(20_000 + i)
        got = [k for k, _ in dense_keys(r, q, 10)[0]]
        assert len(got) == 10 and set(got) <= set(live)  # never a deleted or replaced passage
        exact = {keys[j] for j in np.argsort(-(mat @ q))[:10]}
        recall.append(len(exact & set(got)) / 10)
    assert np.mean(recall) >= 0.95


def _files(path: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(path).as_posix(): (p.stat().st_mtime_ns, p.stat().st_ino)
            for p in path.rglob("*") if p.is_file()}


def test_commit_touches_only_the_new_segment_its_deletions_and_a_manifest(tmp_path, monkeypatch):
    idx = tmp_path / "idx"
    populate(idx)
    before = _files(idx)
    hashed = []
    real = segments_mod.sha256_file
    for mod in (segments_mod, local_mod):
        monkeypatch.setattr(mod, "sha256_file", lambda p: hashed.append(Path(p)) or real(p))
    with LocalIndex.open(idx, writable=True) as w:
        segs_before = {s["id"] for s in w.segments()}
        old_entries = {e["id"]: e["files"] for e in w._manifest["segments"]}
        w.upsert([rec(1, 5), rec(300), rec(301)])  # doc0.txt#1 replaces a row of the first segment
        w.commit()
        new_seg = ({s["id"] for s in w.segments()} - segs_before).pop()
        for e in w._manifest["segments"]:
            if e["id"] in old_entries:
                assert e["files"] == old_entries[e["id"]]  # carried over, not recomputed
    after = _files(idx)
    changed = {k for k in after if k not in before or after[k] != before[k]}
    assert all(k.startswith((f"segments/{new_seg}/", "deletes/", "v-", "CURRENT", ".previous", ".lock"))
               for k in changed), changed
    assert len([k for k in changed if k.startswith("deletes/")]) == 1
    assert len([k for k in changed if k.startswith("v-")]) == 1
    assert hashed and all(p.parent.name in (new_seg, f".tmp-{new_seg}", "deletes") for p in hashed), hashed
    assert not [k for k in before if k.startswith("segments/") and (k not in after or after[k] != before[k])]


def test_compaction_merges_small_segments_and_drops_deleted_rows(tmp_path):
    idx = tmp_path / "idx"
    live = populate(idx)
    with LocalIndex.open(idx, writable=True) as w:
        for j in range(6):
            w.upsert([rec(400 + j, 1)])
            w.commit()
            live[rec(400 + j, 1).key] = rec(400 + j, 1)
    r_old = LocalIndex.open(idx)
    q = vec_of(777)
    lex_before = lexical_keys(r_old, QUERY)
    dense_before = dense_keys(r_old, q, 10)[0]
    segs = r_old.segments()
    assert len(segs) == 10 and plan(segs, MergePolicy(small_rows=100)) == [s["id"] for s in segs]
    assert compact(idx, MergePolicy(small_rows=100)) is not None
    r = LocalIndex.open(idx)
    assert len(r.segments()) == 1 and r.segments()[0]["deleted"] == 0 and r.count() == len(live)
    lex_after = lexical_keys(r, QUERY)
    assert [k for k, _ in lex_after] == [k for k, _ in lex_before]
    assert [s for _, s in lex_after] == pytest.approx([s for _, s in lex_before])
    assert [k for k, _ in dense_keys(r, q, 10)[0]] == [k for k, _ in dense_before]
    assert payloads_by_key(r) == {k: live[k].payload for k in live}
    # the reader opened before still answers (its files are mapped), after more commits and collection
    with LocalIndex.open(idx, writable=True) as w:
        for j in range(3):
            w.upsert([rec(500 + j)])
            w.commit()
    assert lexical_keys(r_old, QUERY) == lex_before
    assert payloads_by_key(r_old)["doc0.txt#1"] == live["doc0.txt#1"].payload
    assert len(list((idx / "segments").iterdir())) <= 5  # old segments collected
    r.verify()


def test_deletions_during_a_compaction_are_kept(tmp_path, monkeypatch):
    import rag.index.merge as merge_mod

    idx = tmp_path / "idx"
    live = populate(idx)
    real_write = merge_mod.write_segment

    def write_then_delete(folder, data, thr):  # a writer commits while the merge is being built
        out = real_write(folder, data, thr)
        with LocalIndex.open(idx, writable=True) as w:
            w.delete(["doc1.txt#2", "doc20.txt#0"])
            w.upsert([rec(4, 9)])  # doc1.txt#1 replaced: its old row is deleted too
            w.commit()
        return out

    monkeypatch.setattr(merge_mod, "write_segment", write_then_delete)
    assert compact(idx, only=[s["id"] for s in LocalIndex.open(idx).segments()]) is not None
    r = LocalIndex.open(idx)
    payloads = payloads_by_key(r)
    assert "doc1.txt#2" not in payloads and "doc20.txt#0" not in payloads
    assert payloads["doc1.txt#1"] == rec(4, 9).payload
    assert r.count() == len(payloads) == len(live) - 2
    assert sum(k == "doc1.txt#1" for k, _ in lexical_keys(r, rec(4, 9).tokens)) == 1


def test_open_checks_sizes_and_verify_checks_hashes(tmp_path):
    idx = tmp_path / "idx"
    populate(idx)
    seg = next((idx / "segments").iterdir())
    data = bytearray((seg / "payloads.jsonl").read_bytes())
    data[5] ^= 1  # same size: open accepts, verify finds it
    (seg / "payloads.jsonl").write_bytes(bytes(data))
    r = LocalIndex.open(idx)
    with pytest.raises(IndexCorruptError):
        r.verify()
    (seg / "vectors.npy").write_bytes((seg / "vectors.npy").read_bytes()[:-8])
    with pytest.raises(IndexCorruptError):
        LocalIndex.open(idx)


def _state(idx: Path) -> tuple[int, list, list]:
    r = LocalIndex.open(idx)
    r.verify()
    return r.count(), lexical_keys(r, QUERY, 50), [k for k, _ in dense_keys(r, vec_of(5), 20)[0]]


def _run_crash(idx: Path, point: str) -> int:
    return subprocess.run([sys.executable, str(CRASH), str(idx), point],
                          capture_output=True, text=True, timeout=120).returncode


@pytest.fixture(scope="module")
def old_and_new(tmp_path_factory) -> tuple:
    """The index's answers before crash_index.py's change and after it (applied without a kill)."""
    ref = tmp_path_factory.mktemp("ref") / "idx"
    populate(ref)
    before = _state(ref)
    assert _run_crash(ref, "none") == 0
    return before, _state(ref)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["segment", "deletes", "manifest", "switch", "collect", "compact-switch"])
def test_kill_during_an_incremental_commit_keeps_old_or_new_index(tmp_path, old_and_new, point):
    before, after = old_and_new
    assert before != after
    idx = tmp_path / "idx"
    populate(idx)
    assert _run_crash(idx, point) == -9
    now = _state(idx)
    # killed before the commit's switch: the old answers; after it: the new ones (the compaction
    # that follows changes the layout, never the answers)
    assert now == (after if point in ("collect", "compact-switch") else before)
    assert _run_crash(idx, "none") == 0  # the next writer cleans up and completes
    assert _state(idx) == after
    assert not [p for p in idx.rglob(".tmp-*")]


@pytest.mark.slow
def test_kill_at_steps_spread_over_a_change_keeps_a_complete_index(tmp_path, old_and_new):
    """The change (a commit, then a compaction) killed at six points spread over its durable steps
    (tests/kill_steps.py): the old answers or the new ones, and the next writer completes it."""
    before, after = old_and_new
    rng = random.Random(7)
    rounds, seen = 6, []
    for round_ in range(rounds):
        idx = tmp_path / f"idx{round_}"
        populate(idx)
        p = subprocess.run([sys.executable, str(CRASH), str(idx), "step", str((round_ + rng.random()) / rounds)],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == -9 and "KILL step " in p.stderr, p.stderr[-2000:]
        now = _state(idx)
        assert now in (before, after)
        seen.append(now == after)
        assert _run_crash(idx, "none") == 0
        assert _state(idx) == after
    assert set(seen) == {False, True}  # killed before the commit's switch and after it
