"""The per-format evaluation (rag/evaluation/formats*.py): its corpus and gold locations are sound,
and, with the real model, every hit of every format cites lines that read back to its text and the
answers are found well above chance."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.cli import main
from rag.documents.readers import reader_for
from rag.evaluation import formats as F
from rag.evaluation import formats_corpus as C
from rag.evaluation import formats_render as R


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    docs, questions = C.load_corpus()
    folder = tmp_path_factory.mktemp("formats")
    gold = R.write_corpus(folder, docs)
    written = {k: g.lines for k, g in gold.items()}
    C.resolve(gold, folder)
    return folder, docs, questions, gold, written


def read(folder: Path, name: str):
    return reader_for(folder / name).read(folder / name, source=name)


def test_every_format_has_documents_and_enough_questions(corpus):
    _, docs, questions, gold, _ = corpus
    for fmt in C.FORMATS:
        assert any(d.format == fmt for d in docs), fmt
        assert 8 <= sum(q.file.endswith("." + fmt) for q in questions) <= 15, fmt
    assert all(q.block in gold and gold[q.block].file == q.file for q in questions)


def test_gold_lines_written_agree_with_the_readers_text(corpus):
    """Plain text, Markdown and DOCX gold lines come from the generator; the block's words must be
    found on exactly those lines of the reader's text (line N of a DOCX is paragraph N)."""
    folder, _, _, gold, written = corpus
    checked = 0
    for block, g in gold.items():
        if written[block] is None:
            continue
        assert C.find_lines(read(folder, g.file).lines(), g.words) == written[block], block
        checked += 1
    assert checked >= 25


def test_every_gold_block_is_found_on_its_page_or_in_its_section(corpus):
    folder, _, _, gold, _ = corpus
    for block, g in gold.items():
        assert g.lines is not None, f"{block}: not in the reader's text of {g.file} p.{g.page}"
        doc = read(folder, g.file)
        lines = doc.lines(g.page)[g.lines[0] - 1 : g.lines[1]]
        assert C.find_lines(lines, g.words) is not None


def test_pdf_has_a_two_column_page_and_running_headers_left_out(corpus):
    folder, docs, _, gold, _ = corpus
    doc = read(folder, "lighthouses.pdf")
    assert doc.pages == 4
    assert "Coastal Heritage Series" not in doc.text  # the running header
    assert not any(line.strip().isdigit() for line in doc.text.split("\n"))  # page numbers
    page2 = doc.lines(2)
    # two columns: the left column's paragraphs come whole before the right column's
    assert gold["lh-fresnel"].page == gold["lh-fuel"].page == 2
    assert gold["lh-order"].lines[1] < gold["lh-rotation"].lines[0] < gold["lh-fuel"].lines[0]
    assert max(len(line) for line in page2) < 60  # narrow lines: a column, not the page's width


def test_html_boilerplate_is_not_in_the_text(corpus):
    folder, *_ = corpus
    text = read(folder, "chickens.html").text
    for boiler in ("cookies", "Leave a Reply", "Popular posts", "All rights reserved", "Subscribe", "Share this"):
        assert boiler not in text
    raw = (folder / "chickens.html").read_text(encoding="utf-8")
    assert all(b in raw for b in ("cookies", "Leave a Reply", "Popular posts"))


def test_markdown_and_docx_carry_their_structure(corpus):
    folder, *_ = corpus
    raw = (folder / "hiking.md").read_text(encoding="utf-8")
    assert raw.startswith("---\ntitle: ") and "```python" in raw and "**" in raw and "\n- " in raw
    doc = read(folder, "hiking.md")
    assert doc.title == "Planning a Two-Day Hike"
    report = read(folder, "library_report.docx")
    assert "Heating and electricity | 14,200" in report.lines()


def test_a_hit_is_at_the_gold_location_only_on_the_same_file_page_and_lines():
    g = C.Gold("a.pdf", "w", page=2, lines=(5, 8))
    assert F.at_gold("a.pdf", 2, 8, 9, g) and F.at_gold("a.pdf", 2, 1, 5, g)
    assert not F.at_gold("a.pdf", 3, 5, 8, g)  # another page
    assert not F.at_gold("a.pdf", 2, 9, 12, g)  # after
    assert not F.at_gold("b.pdf", 2, 5, 8, g)  # another file
    assert not F.at_gold("a.pdf", 2, 5, 8, C.Gold("a.pdf", "w", page=2))  # gold not found: a miss


def test_find_lines_needs_the_words_in_order():
    lines = ["Intro", "The quick brown fox jumps over", "the lazy dog today.", "", "Other words here"]
    assert C.find_lines(lines, "The quick brown fox jumps over the lazy dog today.") == (2, 3)
    assert C.find_lines(lines, "lazy dog today the quick brown fox") is None


def test_rag_eval_without_a_data_set_or_formats_is_a_usage_error(capsys):
    assert main(["eval"]) == 2
    err = capsys.readouterr().err
    assert "DATA_DIR" in err and "--formats" in err and len(err.strip().splitlines()) == 1


@pytest.mark.e2e
@pytest.mark.slow
def test_every_hit_of_every_format_cites_text_that_reads_back_and_answers_are_found(tmp_path):
    res = F.evaluate_formats(tmp_path, per_format=6)
    assert not res["skipped"]
    for f in res["formats"]:
        assert f["questions"] == 6, f
        assert f["hits_checked"] == 6 * 5, f
        assert f["citation_violations"] == [], f
        assert f["unresolved_gold"] == 0, f
        assert f["top5"] >= 0.6 and f["top5"] > 4 * f["chance_top5"], f


def test_the_corpus_is_the_same_bytes_every_time(corpus, tmp_path):
    """So that evaluating a second ranking finds the index up to date."""
    folder, docs, *_ = corpus
    R.write_corpus(tmp_path, docs)
    for d in docs:
        assert (tmp_path / d.file).read_bytes() == (folder / d.file).read_bytes(), d.file
