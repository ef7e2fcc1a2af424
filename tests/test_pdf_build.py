"""PDFs in a build: good ones indexed with page citations; scanned, encrypted, damaged and hostile
ones listed as skipped with their reasons (build stats, manifest, `rag index`, `rag status`), the
rest indexed. The end-to-end test asks the real model and checks the cited page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pdfs
from fakes import FakeEncoder
from rag import Retriever, build_index
from rag.documents.readers.pdf import NO_TEXT
from rag.index import store

TOPICS = [
    ["Lighthouses guide ships along rocky coasts.", "Their lamps turn through the night."],
    ["Volcanoes erupt when magma rises through the crust.", "Ash clouds can ground aircraft for days."],
    ["Honeybees dance to tell the hive where flowers are.", "The waggle dance points toward the nectar."],
    ["Glaciers carve valleys as they slide downhill.", "Meltwater feeds the rivers in summer."],
]


def good_pdf() -> bytes:
    return pdfs.paper([[lines] for lines in TOPICS], header="Field Notes on Nature", page_numbers=True)


def hostile(seeds: Path) -> dict[str, str]:
    """Write the bad PDFs; return the start of each one's expected reason."""
    pdfs.write(seeds / "scanned.pdf", pdfs.blank_pages(3))
    pdfs.write(seeds / "locked.pdf", pdfs.encrypted("The secret recipe uses saffron."))
    pdfs.write(seeds / "truncated.pdf", good_pdf()[:700])
    pdfs.write(seeds / "garbage.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40)
    pdfs.write(seeds / "huge.pdf", pdfs.many_pages(10_000))
    pdfs.write(seeds / "nested.pdf", pdfs.deeply_nested(200_000))
    return {
        "scanned.pdf": NO_TEXT,
        "locked.pdf": "encrypted",
        "truncated.pdf": "not a readable PDF",
        "garbage.pdf": "not a readable PDF",
        "huge.pdf": "10,000 pages, more than the 3,000-page limit",
    }


def test_a_build_indexes_good_pdfs_and_lists_bad_ones(seeds, tmp_path):
    pdfs.write(seeds / "nature.pdf", good_pdf())
    expected = hostile(seeds)
    idx = tmp_path / "idx"
    stats = build_index(seeds, idx, encoder=FakeEncoder())
    reasons = {s.source: s.reason for s in stats.skipped}
    for source, start in expected.items():
        assert reasons[source].startswith(start), (source, reasons.get(source))
    manifest = store.open_meta(idx)[1]
    assert {s: v["reason"] for s, v in manifest["skipped_files"].items()} == reasons
    passages = Retriever.open(idx, encoder=FakeEncoder()).passages
    # the nested file is either read (PDFium caps its nesting) or skipped with a reason, never a crash
    assert "nested.pdf" in reasons or any(p.source == "nested.pdf" for p in passages)
    assert {"cats.txt", "bread.txt", "notes/ships.md", "nature.pdf"} <= {p.source for p in passages}
    got = [(p.page, p.line_start, p.line_end, p.text) for p in passages if p.source == "nature.pdf"]
    assert got == [(i + 1, 1, 2, "\n".join(lines)) for i, lines in enumerate(TOPICS)]
    assert not any("Field Notes" in p.text or "saffron" in p.text for p in passages)


def rag(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k in ("RAG_CACHE_DIR", "RAG_DATA_DIR")}
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.e2e
@pytest.mark.slow
def test_cli_index_ask_cites_the_page_and_status_lists_pdf_skips(tmp_path):
    seeds = tmp_path / "seeds"
    pdfs.write(seeds / "nature.pdf", good_pdf())
    pdfs.write(seeds / "scanned.pdf", pdfs.blank_pages(2))
    pdfs.write(seeds / "locked.pdf", pdfs.encrypted("The secret recipe uses saffron."))
    p = rag("index", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert f"skipped scanned.pdf: {NO_TEXT}" in p.stderr
    assert "skipped locked.pdf: encrypted" in p.stderr
    a = rag("ask", "--json", "How do honeybees tell the hive where the flowers are?", cwd=tmp_path)
    assert a.returncode == 0, a.stderr
    top = json.loads(a.stdout)["hits"][0]
    assert (top["source"], top["page"], top["line_start"]) == ("nature.pdf", 3, 1)
    assert top["citation"].startswith("nature.pdf:p3:1")
    assert "waggle dance" in top["text"]
    s = rag("status", "--json", cwd=tmp_path)
    assert s.returncode == 0, s.stderr
    skipped = json.loads(s.stdout)["skipped"]
    assert skipped["scanned.pdf"] == NO_TEXT and skipped["locked.pdf"].startswith("encrypted")
