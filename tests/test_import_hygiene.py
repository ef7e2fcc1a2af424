"""The library never imports the UI (nor textual), and importing it stays cheap.

`rag chat` reaches the UI through an entry point (group ``rag.ui``, name ``chat``) that the tui
package registers in pyproject.toml: rag/ names neither tui nor textual anywhere.
"""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import tokenize
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path


import rag
from rag import cli

ROOT = Path(__file__).resolve().parents[1]
RAG_DIR = Path(rag.__file__).parent
FORBIDDEN = ("tui", "textual")


def loaded_after(code: str) -> set[str]:
    p = subprocess.run(
        [sys.executable, "-c", code + "; import sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 0, p.stderr
    return set(json.loads(p.stdout.strip().splitlines()[-1]))


def _rag_modules() -> list[str]:
    mods = []
    for path in sorted(RAG_DIR.rglob("*.py")):
        parts = path.relative_to(RAG_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] != "__main__":  # runs the CLI when imported
            mods.append(".".join(parts))
    return mods


def _forbidden(name: str) -> bool:
    return name.split(".")[0] in FORBIDDEN


def imports_of(source: str) -> list[str]:
    """Every module name a source file imports: import statements, and import_module/__import__
    calls with a literal name, at any depth (inside functions too)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names.append(node.args[0].value)
    return names


def test_the_import_scan_sees_every_form():
    src = (
        "import os\nimport tui.app\nfrom textual.app import App\n"
        "def f():\n    from tui import app\n    import importlib\n    importlib.import_module('tui.app')\n"
        "    __import__('textual')\nfrom . import store\n"
    )
    assert [n for n in imports_of(src) if _forbidden(n)] == ["tui.app", "textual.app", "tui", "tui.app", "textual"]


def test_no_module_under_rag_imports_tui_or_textual():
    files = sorted(RAG_DIR.rglob("*.py"))
    assert RAG_DIR / "cli" / "__init__.py" in files and len(files) >= 20
    bad = {
        str(p.relative_to(ROOT)): names
        for p in files
        if (names := [n for n in imports_of(p.read_text(encoding="utf-8")) if _forbidden(n)])
    }
    assert bad == {}


def test_importing_every_rag_module_loads_no_ui():
    mods = _rag_modules()
    assert "rag.cli" in mods and "rag.indexing.build" in mods
    loaded = loaded_after("import " + ", ".join(mods))
    assert set(mods) <= loaded
    assert sorted(m for m in loaded if _forbidden(m)) == []


def test_rag_never_imports_textual_or_torch_on_import():
    mods = loaded_after("import rag, rag.cli, rag.search.retriever, rag.indexing.build, rag.documents.ingest, rag.documents.readers, rag.index.store")
    for heavy in ("textual", "rich", "torch", "transformers", "sentence_transformers"):
        assert heavy not in mods, heavy


# ----------------------------------------------------------------------------- `rag chat`


def _declared_ui() -> EntryPoint:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    value = meta["project"]["entry-points"][cli.UI_GROUP]["chat"]
    return EntryPoint(name="chat", value=value, group=cli.UI_GROUP)


def test_pyproject_registers_the_terminal_ui():
    import tui.app

    assert _declared_ui().load() is tui.app.run


def test_installed_rag_registers_the_terminal_ui():
    """What `rag chat` finds in the installed package's metadata (a stale install lacks it)."""
    from importlib.metadata import entry_points

    found = list(entry_points(group=cli.UI_GROUP, name="chat"))
    assert [ep.value for ep in found] == [_declared_ui().value], "reinstall: pip install -e ."


class _FakeEntryPoint:
    def __init__(self, run) -> None:
        self._run = run

    def load(self):
        return self._run


def test_rag_chat_runs_the_registered_ui(monkeypatch, tmp_path):
    calls = []

    def fake_entry_points(group, name):
        assert (group, name) == ("rag.ui", "chat")
        return [_FakeEntryPoint(lambda **kw: calls.append(kw) or 0)]

    monkeypatch.setattr("importlib.metadata.entry_points", fake_entry_points)
    assert cli.main(["chat", "--index", str(tmp_path / "i"), "--seeds", str(tmp_path / "s")]) == 0
    assert calls == [{"index": str(tmp_path / "i"), "seeds": str(tmp_path / "s"), "watch": True}]


def test_rag_chat_without_a_registered_ui_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group, name: [])
    assert cli.main(["chat"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "python -m tui" in err


def test_python_m_rag_chat_help():
    p = subprocess.run([sys.executable, "-m", "rag", "chat", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0 and "--index" in p.stdout and "--seeds" in p.stdout


def test_import_contracts_hold():
    """import-linter checks the layering written in pyproject.toml ([tool.importlinter]): rag never
    imports tui or textual; documents < embedding, index < indexing, search < evaluation < cli, and
    the search side never imports the build side."""
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 broken" in p.stdout and "KEPT" in p.stdout


# ----------------------------------------------------------------------------- imports inside functions

# Imports inside functions are kept only where they keep start-up fast (or load an optional package, or
# run in a worker), and each says why: a comment on its line, or on the line right above its group of
# consecutive imports (a comment on an earlier import of the group covers the group).
SCANNED = ("rag", "tui")


def _comment_lines(source: str) -> set[int]:
    return {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT}


def unexplained_inner_imports(source: str) -> list[int]:
    """The first line of every import inside a function (at any depth) that no comment explains."""
    tree = ast.parse(source)
    inner = sorted({n.lineno: n for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                    for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}.values(), key=lambda n: n.lineno)
    comments = _comment_lines(source)
    import_lines = {line for n in inner for line in range(n.lineno, n.end_lineno + 1)}
    bad = []
    for n in inner:
        line = n.end_lineno
        while line in import_lines and line not in comments:  # up through the group to the line above it
            line -= 1
        if line not in comments:
            bad.append(n.lineno)
    return bad


def test_the_inner_import_scan_sees_a_missing_reason():
    src = (
        "import os\n"
        "def a():\n    import json  # light: but here on purpose\n    return json\n"
        "def b():\n    # the group below is heavy\n    import numpy\n    from numpy import linalg\n"
        "def c():\n    x = 1\n    import json\n"
        "class C:\n    def m(self):\n        if True:\n            from faiss import IndexFlat\n"
        "def d():\n    s = '# not a comment'\n    import json\n"
        "def e():\n    # a reason\n\n    import json\n"
        "def f():\n    from x import (\n        y,  # a reason inside the statement\n    )\n"
    )
    assert unexplained_inner_imports(src) == [11, 15, 18, 22]


def test_every_import_inside_a_function_says_why():
    files = [p for top in SCANNED for p in sorted((ROOT / top).rglob("*.py"))]
    assert RAG_DIR / "cli" / "__init__.py" in files and ROOT / "tui" / "app.py" in files
    bad = [
        f"{p.relative_to(ROOT)}:{line}"
        for p in files
        for line in unexplained_inner_imports(p.read_text(encoding="utf-8"))
    ]
    assert bad == [], "an import inside a function without a comment saying why (move it to the top if it is light)"
