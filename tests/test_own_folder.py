"""Your own folder without surprises: ``--seeds DIR`` without ``--index`` uses DIR's own index, never
the seed index, and never writes into DIR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.index.locations import DEFAULT_INDEX, data_dir, default_index_for


def test_the_shipped_seeds_keep_the_default_index(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "seeds").mkdir()
    assert default_index_for("seeds") == Path(DEFAULT_INDEX)
    assert default_index_for(tmp_path / "seeds") == Path(DEFAULT_INDEX)
    assert default_index_for("./seeds/") == Path(DEFAULT_INDEX)


def test_other_folders_get_an_index_of_their_own_under_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    a, b = tmp_path / "one" / "notes", tmp_path / "two" / "notes"
    for d in (a, b):
        d.mkdir(parents=True)
    ia, ib = default_index_for(a), default_index_for(b)
    assert ia != ib  # same name, other folder: another index
    assert ia.parent == ib.parent == tmp_path / "data" / "indexes"
    assert ia.name.startswith("notes-") and ib.name.startswith("notes-")
    assert default_index_for(str(a) + "/") == ia  # the same folder, however it is written
    link = tmp_path / "link"
    link.symlink_to(a)
    assert default_index_for(link) == ia  # or reached


def test_the_data_dir_follows_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.delenv("RAG_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "rag"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".local" / "share" / "rag"


def test_a_hostile_folder_name_makes_a_plain_index_name(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    d = tmp_path / "..\x1b[31m weird name;$(rm)"
    d.mkdir()
    name = default_index_for(d).name
    assert all(c.isalnum() or c in "._-" for c in name), name


@pytest.mark.e2e
def test_ask_and_status_on_your_own_folder_use_its_own_index(monkeypatch, tmp_path, capsys):
    """`rag ask --seeds DIR` builds and answers from DIR's own index; the seed index is untouched;
    DIR gets no new files; `rag status --seeds DIR` names that index."""
    from rag.cli import main

    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "seeds").mkdir()  # the project's own seeds folder is here too
    mine = tmp_path / "my notes"
    mine.mkdir()
    (mine / "garden.md").write_text("# Garden\n\nThe tomatoes are watered every evening at seven.\n", encoding="utf-8")
    before = sorted(p.name for p in mine.rglob("*"))

    assert main(["ask", "--seeds", str(mine), "--json", "When are the tomatoes watered?"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["hits"][0]["source"] == "garden.md"
    own = default_index_for(mine)
    assert own.is_dir() and any(own.iterdir())
    assert not Path(DEFAULT_INDEX).exists()  # the seed index was neither used nor written
    assert sorted(p.name for p in mine.rglob("*")) == before  # nothing written into the folder

    assert main(["status", "--seeds", str(mine), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert Path(status["index"]) == own
    assert Path(status["seeds_root"]) == mine.resolve()
    assert status["changes"] == {"added": [], "modified": [], "removed": []}
