"""Real-model builds of many passages, and on hostile seeds.

The shared end-to-end index (conftest's ``real_index``) holds the seed article's 36 passages;
these builds embed hundreds, through the build's one document path (the ONNX Runtime export, made
from the weights without torch), whose vectors must equal sentence-transformers'.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import PARTICIPANTS_Q, SEED_ARTICLE
from rag import Retriever, build_index
from rag.documents.decoding import decode, normalize_newlines

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# DocumentEncoder vs the query encoder on the same passages. fp32 (sentence-transformers) vs numpy
# measured >= 0.9999998 (test_fastpaths.py). Where the CPU computes bf16 natively the build runs
# under bf16 autocast: 0.99996 measured here (median 0.99998, AMD EPYC with avx512_bf16); bounded
# like test_fastpaths.py's bf16 test, since bf16 rounding differs between CPUs.
MIN_COSINE = {"torch-fp32": 0.9999, "torch-bf16": 0.9998}


def _sentences(text: str) -> list[str]:
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    return [s for p in paragraphs for s in re.split(r"(?<=[.!?])\s+", p) if len(s) > 20]


def _cited_text_is_exact(seeds: Path, passages) -> None:
    for p in passages:
        text = normalize_newlines(decode((seeds / p.source).read_bytes())[0])
        assert text[p.char_start : p.char_end] == p.text, p.source
        assert p.text in "\n".join(text.split("\n")[p.line_start - 1 : p.line_end]), p.source


def test_real_build_above_the_small_batch_path(tmp_path):
    """The seed article plus notes made of its own consecutive sentence pairs (real text, every one
    a distinct passage): a build of a hundred new passages, embedded by the one document path."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEED_ARTICLE, seeds / SEED_ARTICLE.name)
    sents = _sentences(SEED_ARTICLE.read_text(encoding="utf-8"))
    for i in range(len(sents) - 1):
        (seeds / f"note{i:03d}.txt").write_text(f"{sents[i]} {sents[i + 1]}\n", encoding="utf-8")

    stats = build_index(seeds, tmp_path / "idx", export_query_encoder=False)

    assert stats.embedded > 64, stats.embedded
    assert stats.encoder == "onnxruntime", stats.encoder  # the one path, whatever the number of passages
    r = Retriever.open(tmp_path / "idx")
    assert len(r.passages) == stats.passages == stats.embedded
    _cited_text_is_exact(seeds, r.passages)

    hits = r.search(PARTICIPANTS_Q, k=5)
    assert "1,500 participants and observers" in hits[0].text
    assert (SEED_ARTICLE.name, 49) in [(h.source, h.line_start) for h in hits]

    # The stored vectors and sentence-transformers' vectors of the same passages agree.
    from rag.embedding.document_encoder import DocumentEncoder

    texts = [p.text for p in r.passages]
    query_side = DocumentEncoder(precision="fp32").encode(texts)
    cos = np.sum(r.vectors * query_side, axis=1) / (
        np.linalg.norm(r.vectors, axis=1) * np.linalg.norm(query_side, axis=1)
    )
    worst = int(np.argmin(cos))
    assert cos.min() >= MIN_COSINE["torch-fp32"], f"cosine {cos.min():.6f} for {texts[worst][:60]!r}"


def test_real_build_on_hostile_seeds(tmp_path):
    """A handful of hostile files through the real build path: each is skipped with its reason or
    indexed with exact text, and the index answers with the real model."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "harbour.md").write_text("# Harbour\n\nThe harbour holds forty ships in winter.\n", encoding="utf-8")
    (seeds / "binary.txt").write_bytes(bytes(range(256)) * 10)
    (seeds / "empty.txt").write_bytes(b"")
    (seeds / "latin1.txt").write_bytes("Caf\u00e9 au lait and cr\u00e8me br\u00fbl\u00e9e at the bakery.\n".encode("cp1252"))
    (seeds / "utf16.txt").write_bytes("Sixteen-bit text about glaciers melting in the Alps.\n".encode("utf-16"))
    control = "The lighthouse lamp \x1b[31mflashes red\x1b[0m every night\x07 to warn \x7fthe boats.\x1b]0;PWNED\x07\n"
    (seeds / "control.txt").write_text(control, encoding="utf-8")
    # One line of ~120,000 characters: split into many passages, above the small-batch path.
    (seeds / "huge-line.txt").write_text(" ".join(f"entry{i} value{i * 7 % 1000}" for i in range(6000)) + "\n", encoding="utf-8")
    with open(seeds / "too-big.txt", "wb") as f:  # over the 16 MB limit, sparse: never read whole
        f.truncate(16 * 1024 * 1024 + 1)
    (tmp_path / "secret.txt").write_text("outside the seeds\n", encoding="utf-8")
    (seeds / "outside.txt").symlink_to(tmp_path / "secret.txt")
    os.mkfifo(seeds / "pipe.txt")

    stats = build_index(seeds, tmp_path / "idx", export_query_encoder=False)

    assert stats.encoder == "onnxruntime", stats.encoder
    reasons = {s.source: s.reason for s in stats.skipped}
    assert set(reasons) == {"binary.txt", "empty.txt", "too-big.txt", "outside.txt", "pipe.txt"}, reasons
    assert "binary" in reasons["binary.txt"]
    assert "empty" in reasons["empty.txt"]
    assert "limit" in reasons["too-big.txt"]
    assert "outside" in reasons["outside.txt"]
    assert "regular file" in reasons["pipe.txt"]

    r = Retriever.open(tmp_path / "idx")
    sources = {p.source for p in r.passages}
    assert sources == {"harbour.md", "latin1.txt", "utf16.txt", "control.txt", "huge-line.txt"}
    _cited_text_is_exact(seeds, r.passages)
    huge = [p for p in r.passages if p.source == "huge-line.txt"]
    assert len(huge) > 64
    assert all(p.line_start == p.line_end == 1 for p in huge)
    enc = r.encoder()
    assert all(len(enc.token_ends(p.text)) <= enc.info.max_tokens for p in huge)
    # The library keeps document text exactly (terminals get it neutralized at the boundary).
    assert [p.text for p in r.passages if p.source == "control.txt"] == [control.rstrip("\n")]

    for question, source in [
        ("Where are the ships kept in winter?", "harbour.md"),
        ("What does the lighthouse lamp do at night?", "control.txt"),
        ("café au lait and crème brûlée", "latin1.txt"),
        ("Are glaciers melting in the Alps?", "utf16.txt"),
    ]:
        assert r.search(question, k=1, mode="dense")[0].source == source, question
        assert r.search(question, k=1, mode="hybrid")[0].source == source, question


def test_real_markdown_with_front_matter_cites_title_section_and_lines(tmp_path):
    """`rag ask --json` on a Markdown file: the hit names the title and section, its text is free of
    markup, and the cited lines, read back through the reader, hold the text (and are the file's
    own lines with the markup taken out)."""
    import json
    import subprocess
    import sys

    from rag.documents.readers import reader_for

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "kettle.md").write_text(
        "---\ntitle: Kettle care\nauthor: A. Smith\n---\n\n# Kettle care\n\n## Descaling\n\n"
        "Fill the kettle with **white vinegar** and water in equal parts, boil it, and let it\n"
        "stand for an hour; see [the maker's guide](https://example.org/guide) for details.\n\n"
        "## Storage\n\n- Keep the kettle *dry* between uses.\n- Store it with the lid open.\n",
        encoding="utf-8",
    )
    (seeds / SEED_ARTICLE.name).write_bytes(SEED_ARTICLE.read_bytes())
    build_index(seeds, tmp_path / "idx", export_query_encoder=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k in ("RAG_CACHE_DIR", "RAG_DATA_DIR")}
    p = subprocess.run(
        [sys.executable, "-m", "rag", "ask", "how long should the vinegar stand in the kettle", "--json", "--index",
         str(tmp_path / "idx")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert p.returncode == 0, p.stderr
    hit = json.loads(p.stdout)["hits"][0]
    assert (hit["source"], hit["title"], hit["section"]) == ("kettle.md", "Kettle care", "Kettle care > Descaling")
    assert (hit["line_start"], hit["line_end"], hit["citation"]) == (10, 11, "kettle.md:10-11")
    assert "**" not in hit["text"] and "](" not in hit["text"] and "white vinegar" in hit["text"]
    back = reader_for(seeds / "kettle.md").read(seeds / "kettle.md")
    assert hit["text"] in "\n".join(back.lines()[hit["line_start"] - 1 : hit["line_end"]])
    raw = (seeds / "kettle.md").read_text(encoding="utf-8").split("\n")
    assert "**white vinegar**" in raw[hit["line_start"] - 1]
