"""End to end with the real model: an HTML page and a Word document in a seeds folder, `rag index`,
then `rag ask --json` cites the right file, section and title."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_html_docx import PAGE, _report, docx_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def rag(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k in ("RAG_CACHE_DIR", "RAG_DATA_DIR")}
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


def test_index_then_ask_cites_html_and_docx_sections(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "garden.html").write_text(PAGE, encoding="utf-8")
    (seeds / "report.docx").write_bytes(docx_bytes(_report))
    p = rag("index", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "skipped" not in p.stdout + p.stderr

    p = rag("ask", "How do I get rid of aphids?", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    first = json.loads(p.stdout)["hits"][0]
    assert (first["source"], first["section"], first["title"]) == ("garden.html", "Growing Tomatoes > Pests", "Garden Notes")
    assert first["text"].startswith("Aphids gather under the leaves")

    p = rag("ask", "By how much did revenue grow?", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    first = json.loads(p.stdout)["hits"][0]
    assert (first["source"], first["section"], first["title"]) == ("report.docx", "Results", "Annual Report")
    assert (first["citation"], first["line_start"]) == ("report.docx:3", 3)  # paragraph 3 of the document
