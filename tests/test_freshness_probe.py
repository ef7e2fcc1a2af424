"""The staleness probe (issue 26) on a folder of subfolders: it sees every kind of change, wherever
in the listing the changed file is, and a skipped file counts by its own record."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.documents.freshness import seeds_may_have_changed


def _folder(root: Path, n: int) -> dict:
    """``n`` notes in a few subfolders, and the manifest records a build would keep of them."""
    files = {}
    for i in range(n):
        sub = root / f"d{i % 4}"
        sub.mkdir(parents=True, exist_ok=True)
        p = sub / f"note{i:03d}.txt"
        p.write_text(f"Note {i}.\n", encoding="utf-8")
        st = p.stat()
        files[f"d{i % 4}/note{i:03d}.txt"] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "passages": 1}
    return {"files": files, "skipped_files": {}}


CHANGES = {
    "added": lambda d: (d / "d1" / "new.md").write_text("A new file.\n", encoding="utf-8"),
    "removed": lambda d: (d / "d2" / "note002.txt").unlink(),
    "modified": lambda d: (d / "d3" / "note039.txt").write_text("Note thirty-nine, rewritten.\n", encoding="utf-8"),
    "touched": lambda d: os.utime(d / "d0" / "note040.txt", ns=(0, 10**18)),
    "the last file touched": lambda d: os.utime(d / "d3" / "note043.txt", ns=(0, 10**18)),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_probe_sees_every_change_wherever_it_is(tmp_path: Path, change: str) -> None:
    manifest = _folder(tmp_path, 44)
    (tmp_path / ".hidden.txt").write_text("not a seed\n", encoding="utf-8")
    (tmp_path / "table.csv").write_text("a,b\n", encoding="utf-8")
    assert not seeds_may_have_changed(tmp_path, manifest)
    CHANGES[change](tmp_path)
    assert seeds_may_have_changed(tmp_path, manifest)


def test_a_skipped_file_counts_by_its_own_record(tmp_path: Path) -> None:
    manifest = _folder(tmp_path, 3)
    bad = tmp_path / "d0" / "empty.txt"
    bad.write_text("", encoding="utf-8")
    st = bad.stat()
    manifest["skipped_files"]["d0/empty.txt"] = {"reason": "no text", "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    assert not seeds_may_have_changed(tmp_path, manifest)
    bad.write_text("Now it has text.\n", encoding="utf-8")
    assert seeds_may_have_changed(tmp_path, manifest)
