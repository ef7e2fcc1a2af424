"""README.md says what the code does: its Python examples run as written, and every command it
names exists with the options it shows.

The ```python blocks run in order, each in its own process, in a temporary folder holding a copy of
the shipped seeds/ (the first block builds ``indexes/default`` there), with the real model.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RAG = [sys.executable, "-m", "rag"]


def readme() -> str:
    return README.read_text(encoding="utf-8")


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python[ \t]*\n(.*?)^```[ \t]*$", text, re.M | re.S)


def code_snippets(text: str) -> list[str]:
    """The README's code, one line at a time: every fenced block's lines and every inline code span."""
    snippets: list[str] = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```[ \t]*$", text, re.M | re.S):
        snippets += block.splitlines()
    prose = re.sub(r"^```[^\n]*\n.*?^```[ \t]*$", "", text, flags=re.M | re.S)
    snippets += re.findall(r"`([^`\n]+)`", prose)
    return snippets


# `rag index`, `.venv/bin/rag chat --seeds ~/notes`, `rag index|ask|chat`, `$ rag ask ...`; not
# `from rag import` nor `rag.ui`.
_COMMAND = re.compile(r"(?:^|(?<=[\s`($/]))rag[ \t]+([a-z][a-z-]*(?:\|[a-z][a-z-]*)*)(.*)")


def named_commands(text: str) -> dict[str, list[str]]:
    """Each `rag SUBCOMMAND` named in the README's code, with the options written after it."""
    found: dict[str, list[str]] = {}
    for snippet in code_snippets(text):
        for m in _COMMAND.finditer(snippet):
            names = m.group(1).split("|")
            if names == ["import"]:
                continue
            rest = re.split(r"\s(?:#|&&|;)|\s{3,}", m.group(2).strip())[0]  # up to a comment or the next column
            options = re.findall(r"(?:^|[\s\[])(--?[a-zA-Z][\w-]*)", rest)
            for name in names:
                found.setdefault(name, [])
                if len(names) == 1:
                    found[name] += options
    return found


def _help(*args: str) -> str:
    r = subprocess.run(RAG + [*args, "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return r.stdout


def subcommands(help_text: str) -> set[str]:
    listed = re.search(r"\{([a-z,]+)\}", help_text)
    names = set(listed.group(1).split(",")) if listed else set()
    names |= set(re.findall(r"^    ([a-z]+)\s{2,}\S", help_text, re.M))
    return names


def documents() -> dict[str, str]:
    """README.md and the pages of docs/, by name."""
    pages = {"README.md": readme()}
    for page in sorted((ROOT / "docs").glob("*.md")):
        pages[f"docs/{page.name}"] = page.read_text(encoding="utf-8")
    return pages


def test_readme_names_only_real_commands_and_options():
    named = named_commands(readme())
    assert {"index", "ask", "chat", "serve", "mcp", "status", "eval"} <= set(named), sorted(named)
    real = subcommands(_help())
    helps: dict[str, str] = {}
    for page, text in documents().items():
        named = named_commands(text)
        assert set(named) <= real, f"{page} names commands that `rag --help` does not list: {sorted(set(named) - real)}"
        for name, options in sorted(named.items()):
            if name not in helps:
                helps[name] = _help(name)
            unknown = sorted({o for o in options if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", helps[name])})
            assert not unknown, f"{page} shows `rag {name}` with options its --help does not know: {unknown}"


def test_docs_name_only_real_bench_scripts_and_options():
    for page, text in documents().items():
        for snippet in code_snippets(text):
            for script, rest in re.findall(r"bench/(\w+)\.py([^|;&]*)", snippet):
                path = ROOT / "bench" / f"{script}.py"
                assert path.exists(), f"{page} names bench/{script}.py, which does not exist"
                source = path.read_text(encoding="utf-8")
                for option in re.findall(r"(?:^|\s)(--[a-z][\w-]*)", rest):
                    assert f'"{option}"' in source, f"{page}: bench/{script}.py has no option {option}"


def test_readme_has_python_examples():
    blocks = python_blocks(readme())
    assert blocks, "README.md has no ```python block"
    assert "import" in blocks[0]


def run_block(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["RAG_DATA_DIR"] = str(cwd / "data")  # an example that uses a folder's own index keeps it here
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


def test_a_block_that_raises_fails(tmp_path):
    """The harness below sees an exception as a failure (and a clean block as success)."""
    assert run_block("raise ValueError('no')", tmp_path).returncode != 0
    assert run_block("import rag; print(rag.__version__)", tmp_path).returncode == 0


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "seeds", where / "seeds")
    return where


@pytest.mark.e2e
@pytest.mark.slow
def test_readme_python_blocks_run_as_written(workdir):
    blocks = python_blocks(readme())
    for n, code in enumerate(blocks, 1):
        r = run_block(code, workdir)
        first = code.strip().splitlines()[0]
        assert r.returncode == 0, (
            f"README python block {n} of {len(blocks)} (starting {first!r}) exited {r.returncode}:\n"
            f"{r.stderr[-3000:]}"
        )
        assert r.stdout.strip(), f"README python block {n} printed nothing"
    assert (workdir / "indexes" / "default" / "CURRENT").exists()
