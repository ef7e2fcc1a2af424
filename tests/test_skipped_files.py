"""Every file of the seeds folder that is not indexed is listed, with its reason, in the build's
stats, the manifest, `rag index` and `rag status` (text and --json); none of them is indexed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fakes import FakeEncoder
from rag import Retriever, build_index
from rag.index import store

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64))
EXPECTED = {
    "paper.pdf": "not a readable PDF",  # a damaged PDF: the PDF reader says so
    "book.epub": "unsupported format .epub (readers: .txt, .md",
    "table.csv": "unsupported format .csv (readers: .txt, .md",
    "renamed-pdf.txt": "binary content (looks like a PDF)",
    "renamed-png.md": "binary content (looks like a PNG image)",
    "controls.txt": "binary content (",  # a prefix: the share of control characters follows
}


def hostile(seeds: Path) -> None:
    (seeds / "paper.pdf").write_bytes(PDF)
    (seeds / "book.epub").write_text("<html><body>Cats purr.</body></html>\n", encoding="utf-8")
    (seeds / "table.csv").write_text("animal,sound\ncat,purr\n", encoding="utf-8")
    (seeds / "renamed-pdf.txt").write_bytes(PDF)
    (seeds / "renamed-png.md").write_bytes(PNG)
    (seeds / "controls.txt").write_bytes(bytes(range(1, 9)) * 20 + b"text")
    (seeds / ".hidden.pdf").write_bytes(PDF)  # hidden: ignored silently, as documented


def check_listed(reasons: dict[str, str]) -> None:
    for source, reason in EXPECTED.items():
        assert reasons[source].startswith(reason), (source, reasons.get(source))
    assert ".hidden.pdf" not in reasons


def test_build_lists_every_file_not_indexed(seeds, tmp_path):
    hostile(seeds)
    idx = tmp_path / "idx"
    stats = build_index(seeds, idx, encoder=FakeEncoder())
    check_listed({s.source: s.reason for s in stats.skipped})
    assert stats.files == 3 and "skipped 6 file(s)" in stats.summary()
    manifest = store.open_meta(idx)[1]
    check_listed({s: v["reason"] for s, v in manifest["skipped_files"].items()})
    sources = {p.source for p in Retriever.open(idx, encoder=FakeEncoder()).passages}
    assert sources == {"cats.txt", "bread.txt", "notes/ships.md"}
    assert not any("PDF" in p.text or "PNG" in p.text for p in Retriever.open(idx, encoder=FakeEncoder()).passages)
    # unchanged: the up-to-date build lists them too
    again = build_index(seeds, idx, encoder=FakeEncoder())
    assert not again.changed
    check_listed({s.source: s.reason for s in again.skipped})


def rag(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k in ("RAG_CACHE_DIR", "RAG_DATA_DIR")}  # the test cache
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.e2e
def test_cli_index_and_status_list_skipped_files(real_index, tmp_path):
    """`rag index` (real model; the copied index's vectors and ONNX export are reused) and `rag status`."""
    work = tmp_path / "work"
    shutil.copytree(real_index.parent.parent, work, symlinks=True)
    hostile(work / "seeds")
    p = rag("index", cwd=work)
    assert p.returncode == 0, p.stderr
    listed = {}
    for line in p.stderr.splitlines():
        if line.startswith("skipped ") and ": " in line:
            src, reason = line[len("skipped ") :].split(": ", 1)
            listed[src] = reason
    check_listed(listed)
    s = rag("status", "--json", cwd=work)
    assert s.returncode == 0, s.stderr
    out = json.loads(s.stdout)
    check_listed(out["skipped"])
    assert out["changes"] == {"added": [], "modified": [], "removed": []}
    assert out["files"] == 1
    t = rag("status", cwd=work)
    assert t.returncode == 0, t.stderr
    check_listed(dict(line[len("skipped:  ") :].split(": ", 1) for line in t.stdout.splitlines() if line.startswith("skipped:  ")))
