"""Building, updating and reopening an index (fake encoder: fast, deterministic)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from fakes import FakeEncoder
from rag import Retriever, build_index
from rag.index import store
from rag.embedding.document_encoder import BuildCancelled
from rag.errors import IndexLockedError, IndexMismatchError, SeedsError


def test_build_counts_and_citations(seeds: Path, tmp_path: Path, fake_encoder: FakeEncoder):
    stats = build_index(seeds, tmp_path / "idx", encoder=fake_encoder)
    assert (stats.files, stats.passages, stats.embedded, stats.reused, stats.removed) == (3, 6, 6, 0, 0)  # ships.md's heading is its section, not a passage
    assert stats.changed and stats.seconds > 0
    r = Retriever.open(tmp_path / "idx", encoder=fake_encoder)
    by_text = {p.text: p for p in r.passages}
    p = by_text["Cats sleep for most of the day.\nThey hunt at dawn and dusk."]
    assert (p.source, p.line_start, p.line_end, p.paragraph) == ("cats.txt", 3, 4, 2)
    assert str(p.citation) == "cats.txt:3-4"
    assert str(by_text["The harbour holds forty ships in winter."].citation) == "notes/ships.md:3"


def test_incremental_embeds_only_new_file_then_drops_deleted(seeds, tmp_path, fake_encoder):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    (seeds / "new.txt").write_text("Owls hunt at night.\n\nOwls have silent feathers.\n", encoding="utf-8")
    enc2 = FakeEncoder()
    stats = build_index(seeds, idx, encoder=enc2)
    assert sorted(enc2.embedded) == ["Owls have silent feathers.", "Owls hunt at night."]
    assert (stats.files, stats.passages, stats.embedded, stats.reused) == (4, 8, 2, 6)
    r = Retriever.open(idx, encoder=enc2)
    assert r.search("owls feathers", k=1, mode="bm25")[0].source == "new.txt"

    (seeds / "cats.txt").unlink()
    enc3 = FakeEncoder()
    stats = build_index(seeds, idx, encoder=enc3)
    assert enc3.embedded == []
    assert (stats.files, stats.passages, stats.removed) == (3, 5, 3)
    r = Retriever.open(idx, encoder=enc3)
    assert all(p.source != "cats.txt" for p in r.passages)


def test_edit_reembeds_only_changed_paragraph(seeds, tmp_path, fake_encoder):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    f = seeds / "cats.txt"
    f.write_text(f.read_text(encoding="utf-8").replace("purrs", "purrs loudly"), encoding="utf-8")
    enc = FakeEncoder()
    stats = build_index(seeds, idx, encoder=enc)
    assert enc.embedded == ["A cat purrs loudly when content."]
    assert stats.embedded == 1 and stats.reused == 5


def test_reused_vectors_equal_fresh_ones(seeds, tmp_path, fake_encoder):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    (seeds / "new.txt").write_text("Owls hunt at night.\n", encoding="utf-8")
    build_index(seeds, idx, encoder=FakeEncoder())
    fresh = tmp_path / "fresh"
    build_index(seeds, fresh, encoder=FakeEncoder())
    a, b = Retriever.open(idx, encoder=fake_encoder), Retriever.open(fresh, encoder=fake_encoder)
    # rows follow commit order (the incremental index has the new file's segment last): compare by passage
    va = {p: np.asarray(a.vectors)[i] for i, p in enumerate(a.passages)}
    vb = {p: np.asarray(b.vectors)[i] for i, p in enumerate(b.passages)}
    assert set(va) == set(vb) and len(va) == len(a.passages) == 7
    for p in va:
        np.testing.assert_allclose(va[p], vb[p], atol=1e-6)


def test_no_change_touches_nothing_and_embeds_nothing(seeds, tmp_path, fake_encoder):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    version = store.current_version(idx)
    enc = FakeEncoder()
    stats = build_index(seeds, idx, encoder=enc)
    assert not stats.changed and enc.calls == []
    assert store.current_version(idx) == version
    assert (stats.files, stats.passages) == (3, 6)


def test_rebuild_embeds_everything(seeds, tmp_path, fake_encoder):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    enc = FakeEncoder()
    stats = build_index(seeds, idx, encoder=enc, rebuild=True)
    assert stats.embedded == 6 and stats.reused == 0


def test_one_version_left_after_builds_and_no_temporary_folders(seeds, tmp_path, fake_encoder):
    idx = tmp_path / "idx"
    for i in range(4):
        (seeds / f"extra{i}.txt").write_text(f"Extra document number {i}.\n", encoding="utf-8")
        build_index(seeds, idx, encoder=fake_encoder)
    names = sorted(p.name for p in idx.iterdir())
    versions = [n for n in names if n.startswith("v-")]
    assert len(versions) <= 2  # current and previous
    assert store.current_version(idx).name in versions
    assert not [n for n in names if n.startswith(".tmp-") or n.startswith("CURRENT.")]


def test_bad_files_are_skipped_and_listed(seeds, tmp_path, fake_encoder):
    (seeds / "binary.txt").write_bytes(b"abc\x00def")
    (seeds / "empty.md").write_bytes(b"")
    (seeds / "latin.txt").write_bytes(b"Caf\xe9 cr\xe8me.\n")
    stats = build_index(seeds, tmp_path / "idx", encoder=fake_encoder)
    reasons = {s.source: s.reason for s in stats.skipped}
    assert "binary" in reasons["binary.txt"] and "empty" in reasons["empty.md"]
    assert any("latin.txt" in w and "cp1252" in w for w in stats.warnings)
    r = Retriever.open(tmp_path / "idx", encoder=fake_encoder)
    assert "Café crème." in [p.text for p in r.passages]


def test_skipped_files_do_not_count_as_changes(seeds, tmp_path, fake_encoder):
    (seeds / "binary.txt").write_bytes(b"abc\x00def")
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    stats = build_index(seeds, idx, encoder=FakeEncoder())
    assert not stats.changed
    assert [s.source for s in stats.skipped] == ["binary.txt"]


def test_missing_or_empty_seeds_is_clear_and_keeps_old_index(seeds, tmp_path, fake_encoder):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    with pytest.raises(SeedsError, match="not found"):
        build_index(tmp_path / "nope", idx, encoder=fake_encoder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SeedsError, match="no readable"):
        build_index(empty, idx, encoder=fake_encoder)
    assert Retriever.open(idx, encoder=fake_encoder).search("ships harbour", k=1, mode="bm25")[0].source == "notes/ships.md"


def test_second_build_fails_clearly_while_locked(seeds, tmp_path, fake_encoder):
    idx = tmp_path / "idx"
    with store.BuildLock(idx):
        with pytest.raises(IndexLockedError, match="another build"):
            build_index(seeds, idx, encoder=fake_encoder)
    build_index(seeds, idx, encoder=fake_encoder)  # the lock is released


def test_cancel_leaves_previous_index(seeds, tmp_path, fake_encoder):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    before = store.current_version(idx)
    (seeds / "new.txt").write_text("Owls hunt at night.\n", encoding="utf-8")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(BuildCancelled):
        build_index(seeds, idx, encoder=FakeEncoder(), cancel=cancel)
    assert store.current_version(idx) == before
    assert not [p for p in idx.iterdir() if p.name.startswith(".tmp-")]


def test_other_model_is_a_clear_mismatch(seeds, tmp_path, fake_encoder):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    with pytest.raises(IndexMismatchError, match="rebuild"):
        Retriever.open(idx, encoder=FakeEncoder(name="other-model"))
    # A build with another model starts from scratch instead of mixing vectors.
    enc = FakeEncoder(name="other-model")
    stats = build_index(seeds, idx, encoder=enc)
    assert stats.embedded == 6 and stats.reused == 0


def test_manifest_is_plain_json_with_what_was_built(seeds, tmp_path, fake_encoder):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    raw = json.loads((store.current_version(idx) / "manifest.json").read_text(encoding="utf-8"))
    assert raw["format"] == store.FORMAT and raw["format_version"] == store.FORMAT_VERSION
    m = raw["meta"]  # the build's record, carried by the backend's manifest
    assert m["model"]["name"] == "fake-bow" and m["model"]["dim"] == 64
    assert set(m["files"]) == {"cats.txt", "bread.txt", "notes/ships.md"}
    assert all(len(v["sha256"]) == 64 for v in m["files"].values())
    assert m["counts"] == {"files": 3, "passages": 6, "dim": 64}
    assert m["seeds_root"] == str(seeds.resolve())


def test_nothing_saved_is_a_pickle(seeds, tmp_path, fake_encoder):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    for p in idx.rglob("*"):
        if p.is_file():
            head = p.read_bytes()[:2]
            assert head not in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"), p
            if p.suffix == ".npy":
                np.load(p, allow_pickle=False)  # raises if it held objects
