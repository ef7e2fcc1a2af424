"""The library never imports the UI, and importing it stays cheap."""

from __future__ import annotations

import json
import subprocess
import sys


def loaded_after(code: str) -> set[str]:
    p = subprocess.run(
        [sys.executable, "-c", code + "; import sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 0, p.stderr
    return set(json.loads(p.stdout.strip().splitlines()[-1]))


def test_rag_never_imports_textual_or_torch_on_import():
    mods = loaded_after("import rag, rag.cli, rag.retriever, rag.build, rag.ingest, rag.store")
    for heavy in ("textual", "rich", "torch", "transformers", "sentence_transformers"):
        assert heavy not in mods, heavy


def test_no_module_under_rag_mentions_textual():
    from pathlib import Path

    import rag

    for p in Path(rag.__file__).parent.glob("*.py"):
        src = p.read_text(encoding="utf-8")
        assert "import textual" not in src and "from textual" not in src, p
