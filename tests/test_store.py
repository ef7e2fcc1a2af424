"""A damaged or mismatched index is one clear error that names `rag index --rebuild`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fakes import FakeEncoder
from rag import Retriever, build_index
from rag.index import store
from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError


@pytest.fixture
def built(seeds, tmp_path) -> Path:
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    return idx


def version(idx: Path) -> Path:
    return store.current_version(idx)


def open_(idx: Path):
    return Retriever.open(idx, encoder=FakeEncoder())


def test_missing_index(tmp_path):
    with pytest.raises(IndexMissingError, match="rag index"):
        open_(tmp_path / "nothing")


@pytest.mark.parametrize(
    "damage",
    [
        lambda v: (v / "dense.faiss").write_bytes((v / "dense.faiss").read_bytes()[:100]),
        lambda v: (v / "dense.faiss").write_bytes(b"\0" * (v / "dense.faiss").stat().st_size),
        lambda v: (v / "vectors.npy").write_bytes(b"\0" * (v / "vectors.npy").stat().st_size),
        lambda v: (v / "passages.jsonl").write_text("", encoding="utf-8"),
        lambda v: (v / "passages.jsonl").write_text(
            (v / "passages.jsonl").read_text(encoding="utf-8") * 2, encoding="utf-8"
        ),
        lambda v: (v / "manifest.json").write_text("{not json", encoding="utf-8"),
        lambda v: (v / "passages.jsonl").unlink(),
        lambda v: (v / "manifest.json").unlink(),
    ],
    ids=["faiss-truncated", "faiss-zeroed", "vectors-zeroed", "passages-empty", "passages-extra",
         "manifest-bad-json", "passages-missing", "manifest-missing"],
)
def test_damage_is_a_clear_error(built, damage):
    damage(version(built))
    with pytest.raises(IndexCorruptError) as err:
        open_(built)
    msg = str(err.value)
    assert "rag index --rebuild" in msg and "\n" not in msg


def test_opening_hashes_nothing(built, monkeypatch):
    """Opening checks sizes only: its cost must not grow with the index (issue 9)."""
    hashed = []
    real = store.sha256_file
    monkeypatch.setattr(store, "sha256_file", lambda p: hashed.append(p) or real(p))
    r = open_(built)
    assert r.search("cats", k=1, mode="bm25")[0].source == "cats.txt"
    assert hashed == []
    Retriever.open(built, encoder=FakeEncoder(), verify=True)
    listed = json.loads((version(built) / "manifest.json").read_text(encoding="utf-8"))["checksums"]
    assert sorted(p.relative_to(version(built)).as_posix() for p in hashed) == sorted(listed)


def test_verify_catches_silent_damage_of_same_size_that_open_does_not(built, capsys):
    from rag.cli import main

    assert main(["status", "--index", str(built), "--seeds", str(built), "--verify"]) == 0
    assert re.search(r"all \d+ index files match their checksums", capsys.readouterr().out)
    p = version(built) / "passages.jsonl"
    text = p.read_text(encoding="utf-8")
    p.write_text(text.replace("Cats", "Dogs", 1), encoding="utf-8")
    assert open_(built).passages  # same size, still parses: opening does not read for damage
    with pytest.raises(IndexCorruptError, match="checksum"):
        Retriever.open(built, encoder=FakeEncoder(), verify=True)
    assert main(["status", "--index", str(built), "--verify"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "passages.jsonl" in err and "rag index --rebuild" in err


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
    (version(built) / "vectors.npy").write_bytes(b"garbage")
    stats = build_index(seeds, built, encoder=FakeEncoder(), rebuild=True)
    assert stats.embedded == stats.passages == 7
    assert open_(built).search("cats", k=1, mode="bm25")[0].source == "cats.txt"
