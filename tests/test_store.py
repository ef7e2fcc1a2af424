"""A damaged or mismatched index is one clear error that names `rag index --rebuild`."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import write_seeds
from fakes import FakeEncoder
from rag import Retriever, build_index
from rag.index import store
from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """An index of two commits: an HNSW segment (so that there is a FAISS file) with a deletion
    array (cats.txt changed), and the changed file's own segment. Built once; never changed."""
    seeds = write_seeds(tmp_path_factory.mktemp("store") / "seeds")
    idx = seeds.parent / "idx"
    build_index(seeds, idx, encoder=FakeEncoder(), dense_kind="hnsw")
    f = seeds / "cats.txt"
    f.write_text(f.read_text(encoding="utf-8").replace("purrs", "purrs loudly"), encoding="utf-8")
    build_index(seeds, idx, encoder=FakeEncoder(), dense_kind="hnsw")
    return idx


@pytest.fixture
def built(pristine, tmp_path) -> Path:
    """A copy of the pristine index for a test to damage."""
    return Path(shutil.copytree(pristine, tmp_path / "idx", symlinks=True))


def version(idx: Path) -> Path:
    return store.current_version(idx)


def segment(idx: Path) -> Path:
    """The folder of the current version's first (largest) segment."""
    m = json.loads((version(idx) / "manifest.json").read_text(encoding="utf-8"))
    return idx / "segments" / m["segments"][0]["id"]


def deletes(idx: Path) -> Path:
    m = json.loads((version(idx) / "manifest.json").read_text(encoding="utf-8"))
    return idx / next(s["deletes"]["path"] for s in m["segments"] if s.get("deletes"))


def open_(idx: Path):
    return Retriever.open(idx, encoder=FakeEncoder())


def test_missing_index(tmp_path):
    with pytest.raises(IndexMissingError, match="rag index"):
        open_(tmp_path / "nothing")


@pytest.mark.parametrize(
    "damage",
    [
        lambda i: (segment(i) / "dense.faiss").write_bytes((segment(i) / "dense.faiss").read_bytes()[:100]),
        lambda i: (segment(i) / "dense.faiss").write_bytes(b"\0" * (segment(i) / "dense.faiss").stat().st_size),
        lambda i: (segment(i) / "vectors.npy").write_bytes(b"\0" * (segment(i) / "vectors.npy").stat().st_size),
        lambda i: (segment(i) / "payloads.jsonl").write_text("", encoding="utf-8"),
        lambda i: (segment(i) / "payloads.jsonl").write_bytes((segment(i) / "payloads.jsonl").read_bytes() * 2),
        lambda i: (version(i) / "manifest.json").write_text("{not json", encoding="utf-8"),
        lambda i: (segment(i) / "payloads.jsonl").unlink(),
        lambda i: (version(i) / "manifest.json").unlink(),
        lambda i: (segment(i) / "post_rows.npy").write_bytes(b"\0" * (segment(i) / "post_rows.npy").stat().st_size),
        lambda i: (segment(i) / "keys_sorted.npy").unlink(),
        lambda i: deletes(i).unlink(),
        lambda i: deletes(i).write_bytes(deletes(i).read_bytes()[:-4]),
    ],
    ids=["faiss-truncated", "faiss-zeroed", "vectors-zeroed", "payloads-empty", "payloads-extra",
         "manifest-bad-json", "payloads-missing", "manifest-missing", "postings-zeroed", "keys-missing",
         "deletes-missing", "deletes-truncated"],
)
def test_damage_is_a_clear_error(built, damage):
    damage(built)
    with pytest.raises(IndexCorruptError) as err:
        open_(built)
    msg = str(err.value)
    assert "rag index --rebuild" in msg and "\n" not in msg


def test_opening_hashes_nothing(built, monkeypatch):
    """Opening checks sizes only: its cost must not grow with the index (issue 9)."""
    import rag.index.local as local_mod
    import rag.index.segments as segments_mod

    hashed = []
    real = store.sha256_file
    for mod in (local_mod, segments_mod):
        monkeypatch.setattr(mod, "sha256_file", lambda p: hashed.append(Path(p)) or real(p))
    r = open_(built)
    assert r.search("cats", k=1, mode="bm25")[0].source == "cats.txt"
    assert hashed == []
    Retriever.open(built, encoder=FakeEncoder(), verify=True)
    m = json.loads((version(built) / "manifest.json").read_text(encoding="utf-8"))
    listed = [f"segments/{s['id']}/{name}" for s in m["segments"] for name in s["files"]]
    listed += [s["deletes"]["path"] for s in m["segments"] if s.get("deletes")]
    assert sorted(p.relative_to(built).as_posix() for p in hashed) == sorted(listed)


def test_verify_catches_silent_damage_of_same_size_that_open_does_not(built, capsys):
    from rag.cli import main

    assert main(["status", "--index", str(built), "--seeds", str(built), "--verify"]) == 0
    assert re.search(r"all \d+ index files match their checksums", capsys.readouterr().out)
    p = segment(built) / "payloads.jsonl"
    text = p.read_text(encoding="utf-8")
    p.write_text(text.replace("Cats", "Dogs", 1), encoding="utf-8")
    assert open_(built).passages  # same size, still parses: opening does not read for damage
    with pytest.raises(IndexCorruptError, match="checksum"):
        Retriever.open(built, encoder=FakeEncoder(), verify=True)
    assert main(["status", "--index", str(built), "--verify"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "payloads.jsonl" in err and "rag index --rebuild" in err


def test_an_index_of_the_old_layout_is_refused_in_one_line_and_rebuilt_by_rag_index(seeds, tmp_path, capsys):
    """Format 1 (one folder per version, rebuilt whole) is not read: queries name the rebuild,
    `rag index` builds the new layout from scratch (the old version stays until it is replaced)."""
    from rag.cli import main

    idx = tmp_path / "old"
    old = idx / "v-20240101T000000-abcd0123"
    old.mkdir(parents=True)
    (old / "manifest.json").write_text(json.dumps({"format": "rag-index", "format_version": 1,
                                                   "counts": {"passages": 7}}), encoding="utf-8")
    (old / "passages.jsonl").write_text("{}\n", encoding="utf-8")
    (idx / "CURRENT").write_text(old.name + "\n", encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="older.*rag index --rebuild"):
        open_(idx)
    assert main(["ask", "--index", str(idx), "cats"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rag index --rebuild" in err
    stats = build_index(seeds, idx, encoder=FakeEncoder())
    assert stats.embedded == stats.passages == 6
    assert any("not reusable" in w for w in stats.warnings)
    assert open_(idx).search("cats", k=1, mode="bm25")[0].source == "cats.txt"
    build_index(seeds, idx, encoder=FakeEncoder(), rebuild=True)
    assert not old.exists()  # gone once it is neither current nor previous


def test_current_pointing_nowhere(built):
    (built / "CURRENT").write_text("v-missing\n", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="rebuild"):
        open_(built)


def test_newer_format_is_a_mismatch(built):
    p = version(built) / "manifest.json"
    m = json.loads(p.read_text(encoding="utf-8"))
    m["format_version"] = store.FORMAT_VERSION + 1
    p.write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="newer rag.*rebuild"):
        open_(built)


def test_damaged_index_is_rebuilt_by_the_next_build(built, seeds):
    (segment(built) / "vectors.npy").write_bytes(b"garbage")
    stats = build_index(seeds, built, encoder=FakeEncoder(), rebuild=True)
    assert stats.embedded == stats.passages == 6
    assert open_(built).search("cats", k=1, mode="bm25")[0].source == "cats.txt"


def test_a_manifest_handed_over_is_taken_once_and_never_when_the_file_changed(built):
    """`rag ask`'s warm-up thread parses the manifest for the retriever's open (one parse at 20,000
    files): the next read takes that very dict, once; a later read, or a file rewritten since,
    parses again."""
    version = store.current_version(built)
    first = store.read_manifest(version, hand_over=True)
    assert store.read_manifest(version) is first
    again = store.read_manifest(version)
    assert again is not first and again == first
    store.read_manifest(version, hand_over=True)
    path = version / store.MANIFEST
    changed = json.loads(path.read_text(encoding="utf-8"))
    changed["meta"]["seeds_root"] = "/elsewhere"
    path.write_text(json.dumps(changed), encoding="utf-8")
    assert store.read_manifest(version)["meta"]["seeds_root"] == "/elsewhere"
