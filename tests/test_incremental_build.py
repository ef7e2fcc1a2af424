"""build_index on the segment backend: a changed file touches only its own passages, keys are stable
across builds, and the merge policy keeps the number of segments bounded (issue 10, items 3 and 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rag.index.local as local_mod
import rag.index.segments as segments_mod
from fakes import FakeEncoder
from rag import Retriever, build_index
from rag.index import store
from rag.index.local import LocalIndex
from rag.index.merge import MergePolicy
from rag.index.passages_io import passage_key, source_prefix


def _files(idx: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(idx).as_posix(): (p.stat().st_mtime_ns, p.stat().st_ino)
            for p in idx.rglob("*") if p.is_file()}


def _keys(idx: Path) -> dict[str, set[str]]:
    r = Retriever.open(idx, encoder=FakeEncoder())
    out: dict[str, set[str]] = {}
    for p in r.passages:
        out.setdefault(p.source, set()).add(passage_key(p))
    return out


def _segments(idx: Path) -> list[dict]:
    with LocalIndex.open(idx) as r:
        return r.segments()


@pytest.fixture
def hashed(monkeypatch) -> list[Path]:
    """The index files whose sha256 is computed (every index file is hashed once, when written)."""
    seen: list[Path] = []
    real = store.sha256_file
    for mod in (segments_mod, local_mod):
        monkeypatch.setattr(mod, "sha256_file", lambda p: seen.append(Path(p)) or real(p))
    return seen


def test_adding_one_file_writes_only_its_segment_and_hashes_nothing_else(seeds, tmp_path, hashed):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    before, keys_before = _files(idx), _keys(idx)
    (seg_before,) = [s["id"] for s in _segments(idx)]
    hashed.clear()
    (seeds / "owls.txt").write_text("Owls hunt at night.\n\nOwls have silent feathers.\n", encoding="utf-8")
    enc = FakeEncoder()
    stats = build_index(seeds, idx, encoder=enc)
    assert sorted(enc.embedded) == ["Owls have silent feathers.", "Owls hunt at night."]
    assert (stats.embedded, stats.reused, stats.passages) == (2, 6, 8)  # ships.md's heading is no passage
    after = _files(idx)
    changed = {k for k in after if before.get(k) != after[k]}
    new_seg = ({s["id"] for s in _segments(idx)} - {seg_before}).pop()
    # the new segment and a manifest (plus the pointers and the lock); no deletion array, nothing rewritten
    assert all(k.startswith((f"segments/{new_seg}/", "v-", "CURRENT", ".previous", ".lock")) for k in changed), changed
    assert not [k for k in before if k.startswith("segments/") and before[k] != after.get(k)]
    assert hashed and {p.parent.name for p in hashed} <= {new_seg, f".tmp-{new_seg}"}, hashed
    keys_after = _keys(idx)
    assert {s: k for s, k in keys_after.items() if s != "owls.txt"} == keys_before
    assert keys_after["owls.txt"] and all(k.startswith(source_prefix("owls.txt")) for k in keys_after["owls.txt"])


def test_changing_one_file_deletes_and_adds_only_its_changed_passages(seeds, tmp_path, hashed):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    keys_before = _keys(idx)
    hashed.clear()
    f = seeds / "notes" / "ships.md"
    f.write_text(f.read_text(encoding="utf-8") + "\nGulls follow the boats home.\n", encoding="utf-8")
    enc = FakeEncoder()
    stats = build_index(seeds, idx, encoder=enc)
    assert enc.embedded == ["Ships\nGulls follow the boats home."]  # embedded under its section
    assert (stats.embedded, stats.removed, stats.passages) == (1, 0, 7)
    keys_after = _keys(idx)
    assert keys_after["notes/ships.md"] > keys_before["notes/ships.md"]  # the old passages' keys stayed
    assert {s: k for s, k in keys_after.items() if s != "notes/ships.md"} == {
        s: k for s, k in keys_before.items() if s != "notes/ships.md"}
    segs = _segments(idx)
    assert len(segs) == 2 and sum(s["deleted"] for s in segs) == 0  # appended: nothing deleted
    # an edit in the middle replaces that passage's key (and those after it, whose places moved)
    f.write_text(f.read_text(encoding="utf-8").replace("forty", "fifty"), encoding="utf-8")
    enc = FakeEncoder()
    stats = build_index(seeds, idx, encoder=enc)
    assert enc.embedded == ["Ships\nThe harbour holds fifty ships in winter."]
    assert stats.removed == 1 and stats.passages == 7
    assert {s: k for s, k in _keys(idx).items() if s != "notes/ships.md"} == {
        s: k for s, k in keys_before.items() if s != "notes/ships.md"}
    assert {p.parent.name for p in hashed if p.parent.name == "deletes"}  # a deletion array was written


def test_removing_one_file_writes_only_a_deletion_array(seeds, tmp_path, hashed):
    idx = tmp_path / "idx"
    for i in range(20):  # enough passages that losing 3 stays under the policy's deleted share (no merge)
        (seeds / f"filler{i:02d}.txt").write_text(f"Filler paragraph {i}.\n", encoding="utf-8")
    build_index(seeds, idx, encoder=FakeEncoder())
    before = _files(idx)
    hashed.clear()
    (seeds / "cats.txt").unlink()
    stats = build_index(seeds, idx, encoder=FakeEncoder())
    assert (stats.embedded, stats.removed, stats.passages) == (0, 3, 23)
    after = _files(idx)
    changed = {k for k in after if before.get(k) != after[k]}
    assert all(k.startswith(("deletes/", "v-", "CURRENT", ".previous", ".lock")) for k in changed), changed
    assert [p.parent.name for p in hashed] == ["deletes"]
    assert "cats.txt" not in _keys(idx)
    r = Retriever.open(idx, encoder=FakeEncoder())
    assert all(h.source != "cats.txt" for h in r.search("cats sleep", k=4, mode="hybrid"))


def test_keys_are_stable_across_builds_and_equal_to_a_fresh_build(seeds, tmp_path):
    idx, fresh = tmp_path / "idx", tmp_path / "fresh"
    build_index(seeds, idx, encoder=FakeEncoder())
    (seeds / "owls.txt").write_text("Owls hunt at night.\n", encoding="utf-8")
    build_index(seeds, idx, encoder=FakeEncoder())
    (seeds / "bread.txt").write_text("Bread rises because yeast makes gas.\n\nRye is denser.\n", encoding="utf-8")
    build_index(seeds, idx, encoder=FakeEncoder())
    build_index(seeds, fresh, encoder=FakeEncoder())
    assert _keys(idx) == _keys(fresh)
    q = "which bread is denser"
    a = Retriever.open(idx, encoder=FakeEncoder()).search(q, k=3)
    b = Retriever.open(fresh, encoder=FakeEncoder()).search(q, k=3)
    assert [(str(h.citation), round(h.score, 5)) for h in a] == [(str(h.citation), round(h.score, 5)) for h in b]


def test_many_small_updates_are_merged_by_the_policy(seeds, tmp_path):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    for i in range(MergePolicy().max_small + 3):
        (seeds / f"note{i}.txt").write_text(f"Note number {i} about lanterns.\n", encoding="utf-8")
        build_index(seeds, idx, encoder=FakeEncoder())
    segs = _segments(idx)
    assert len(segs) <= MergePolicy().max_small  # merged after the commit that made one too many
    r = Retriever.open(idx, encoder=FakeEncoder())
    assert len(r.passages) == 6 + MergePolicy().max_small + 3
    assert {h.source for h in r.search("lanterns", k=20, mode="bm25")} == {
        f"note{i}.txt" for i in range(MergePolicy().max_small + 3)}
    meta = json.loads((store.current_version(idx) / "manifest.json").read_text(encoding="utf-8"))["meta"]
    assert meta["counts"]["passages"] == len(r.passages)  # compaction carried the build's record over
