"""One change decision for build, status and the UI: stamps decide what is hashed, hashes what changed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import rag.documents.changes as changes_mod
from fakes import FakeEncoder
from rag import Retriever, build_index
from rag.index import store
from rag.documents.changes import seeds_changes

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))


def current(idx: Path) -> str:
    return store.current_version(idx).name


def status(seeds: Path, idx: Path):
    return seeds_changes(seeds, store.open_meta(idx)[1], idx)


def same_length_edit_mtime_restored(seeds: Path) -> None:
    f = seeds / "cats.txt"
    st = f.stat()
    f.write_text(f.read_text(encoding="utf-8").replace("purrs", "hums!"), encoding="utf-8")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert f.stat().st_size == st.st_size and f.stat().st_mtime_ns == st.st_mtime_ns


def touch(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns + 10**9, st.st_mtime_ns + 10**9))


def test_same_length_edit_with_mtime_restored_is_indexed_and_reported(seeds, tmp_path):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    same_length_edit_mtime_restored(seeds)
    ch = status(seeds, idx)
    assert ch.modified == ["cats.txt"] and not ch.added and not ch.removed
    enc = FakeEncoder()
    stats = build_index(seeds, idx, encoder=enc)
    assert stats.changed and enc.embedded == ["A cat hums! when content."]
    texts = [p.text for p in Retriever.open(idx, encoder=enc).passages]
    assert "A cat hums! when content." in texts and "A cat purrs when content." not in texts
    assert not status(seeds, idx)


def test_bare_touch_publishes_nothing_and_status_sees_no_change(seeds, tmp_path, monkeypatch):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    before = current(idx)
    touch(seeds / "cats.txt")
    hashed: list[Path] = []
    real = changes_mod.sha256_of
    monkeypatch.setattr(changes_mod, "sha256_of", lambda p: hashed.append(p) or real(p))
    assert not status(seeds, idx)
    assert [p.name for p in hashed] == ["cats.txt"]  # the stamp moved, so the content was hashed
    enc = FakeEncoder()
    stats = build_index(seeds, idx, encoder=enc)
    assert not stats.changed and enc.calls == []
    assert current(idx) == before  # no new version
    # the build remembered the new stamp: later checks hash nothing
    hashed.clear()
    assert not status(seeds, idx) and hashed == []
    assert not build_index(seeds, idx, encoder=FakeEncoder()).changed and hashed == []
    # a real edit after the touch is still seen, by both
    f = seeds / "cats.txt"
    f.write_text(f.read_text(encoding="utf-8") + "\nCats purr.\n", encoding="utf-8")
    assert status(seeds, idx).modified == ["cats.txt"]
    assert build_index(seeds, idx, encoder=FakeEncoder()).changed and current(idx) != before


def test_stamp_memo_never_hides_an_edit(seeds, tmp_path):
    """A stale memo (a touch recorded, then an edit with mtime restored) does not mask the edit."""
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    touch(seeds / "cats.txt")
    build_index(seeds, idx, encoder=FakeEncoder())
    assert (idx / changes_mod.STAMPS).is_file()
    same_length_edit_mtime_restored(seeds)
    assert status(seeds, idx).modified == ["cats.txt"]
    assert build_index(seeds, idx, encoder=FakeEncoder()).changed


def _mutations():
    def add(s):
        (s / "new.txt").write_text("Owls hunt at night.\n", encoding="utf-8")

    def modify(s):
        (s / "bread.txt").write_text("Bread rises slowly in the cold.\n", encoding="utf-8")

    def remove(s):
        (s / "bread.txt").unlink()

    def touch_all(s):
        for p in s.rglob("*"):
            if p.is_file():
                touch(p)

    def rewrite_same(s):  # written again with the same bytes: new ctime, same content
        p = s / "bread.txt"
        p.write_bytes(p.read_bytes())

    def replace_same(s):  # an editor's atomic save of the same bytes: new inode
        p = s / "bread.txt"
        (s / "tmp").write_bytes(p.read_bytes())
        os.replace(s / "tmp", p)

    def add_pdf(s):
        (s / "paper.pdf").write_bytes(b"%PDF-1.4 x")

    def add_binary_txt(s):
        (s / "fake.txt").write_bytes(b"%PDF-1.4 x")

    def edit_binary_into_text(s):
        (s / "blob.md").write_text("Now it is text.\n", encoding="utf-8")

    def touch_binary(s):
        touch(s / "blob.md")

    def remove_skipped(s):
        (s / "old.csv").unlink()

    def touch_pdf_ish(s):
        touch(s / "old.csv")

    def hidden(s):
        (s / ".notes.txt").write_text("hidden\n", encoding="utf-8")

    return {
        "added": (add, ["new.txt"], [], []),
        "modified": (modify, [], ["bread.txt"], []),
        "removed": (remove, [], [], ["bread.txt"]),
        "touched": (touch_all, [], [], []),
        "rewritten with the same bytes": (rewrite_same, [], [], []),
        "replaced with the same bytes": (replace_same, [], [], []),
        "restored-mtime edit": (same_length_edit_mtime_restored, [], ["cats.txt"], []),
        "unsupported file added": (add_pdf, ["paper.pdf"], [], []),
        "binary .txt added": (add_binary_txt, ["fake.txt"], [], []),
        "skipped file becomes text": (edit_binary_into_text, [], ["blob.md"], []),
        "skipped file touched": (touch_binary, [], [], []),
        "unsupported file touched": (touch_pdf_ish, [], [], []),
        "skipped file removed": (remove_skipped, [], [], ["old.csv"]),
        "hidden file added": (hidden, [], [], []),
    }


@pytest.mark.parametrize("case", list(_mutations()))
def test_build_and_status_agree(case, seeds, tmp_path):
    mutate, added, modified, removed = _mutations()[case]
    (seeds / "blob.md").write_bytes(PNG)
    (seeds / "old.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    assert not status(seeds, idx)
    before = current(idx)
    mutate(seeds)
    ch = status(seeds, idx)
    assert (ch.added, ch.modified, ch.removed) == (added, modified, removed)
    stats = build_index(seeds, idx, encoder=FakeEncoder())
    assert stats.changed == bool(ch)
    assert (current(idx) != before) == bool(ch)
    assert not status(seeds, idx)  # after the build, nothing is left to do
    assert not build_index(seeds, idx, encoder=FakeEncoder()).changed
