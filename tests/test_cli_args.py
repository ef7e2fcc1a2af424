"""`rag` argument handling and the cheap staleness probe, without the model (fast)."""

from __future__ import annotations

import argparse
import os

import pytest

from fakes import FakeEncoder
from rag import build_index
from rag.index import store
from rag.cli import _parser, main
from rag.documents.freshness import seeds_may_have_changed


def test_every_option_of_every_command_has_help():
    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"{name} {'/'.join(a.option_strings) or a.dest}"
        for name, sub in commands.choices.items()
        for a in sub._actions
        if not a.help or a.help == argparse.SUPPRESS
    ]
    assert sorted(commands.choices) == ["ask", "chat", "eval", "index", "mcp", "serve", "status"]
    assert missing == []


def test_ask_help_documents_the_option_rule(capsys):
    assert main(["ask", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert 'put them after "--": rag ask -- --seeds' in text
    assert "--seeds, when given, must be the folder the index was built from" in text


@pytest.mark.parametrize("argv", [["ask", "--seeds"], ["ask", "q", "-k"], ["ask", "q", "--jsn"], ["ask", "-k=2"]])
def test_usage_errors_return_2_in_process(argv, capsys):
    assert main(argv) == 2  # no SystemExit escapes main()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rag ask: ")


def test_no_docstring_documents_a_model_option():
    import rag

    root = os.path.dirname(rag.__file__)
    for name in os.listdir(root):
        if name.endswith(".py"):
            with open(os.path.join(root, name), encoding="utf-8") as f:
                assert "--model" not in f.read(), name


@pytest.fixture
def built(seeds, tmp_path):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=FakeEncoder())
    return store.open_meta(idx)[1]


def test_probe_sees_nothing_when_nothing_changed(seeds, built):
    (seeds / ".hidden.txt").write_text("hidden files are not seeds\n", encoding="utf-8")
    (seeds / "table.csv").write_text("a,b\n", encoding="utf-8")
    assert not seeds_may_have_changed(seeds, built)


@pytest.mark.parametrize("change", [
    lambda d: (d / "new.md").write_text("A new file.\n", encoding="utf-8"),
    lambda d: (d / "notes" / "deeper").mkdir() or (d / "notes" / "deeper" / "x.txt").write_text("x\n"),
    lambda d: (d / "bread.txt").unlink(),
    lambda d: (d / "bread.txt").write_text("Bread rises because yeast makes CO2.\n", encoding="utf-8"),
    lambda d: os.utime(d / "cats.txt", ns=(0, 10**18)),  # same content, new mtime: the exact check decides
], ids=["added", "added-deep", "removed", "modified", "touched"])
def test_probe_sees_every_kind_of_change(seeds, built, change):
    change(seeds)
    assert seeds_may_have_changed(seeds, built)
