"""The PDF reader: reading order, hyphenation, running headers/footers, pages, skips, and the
citation invariant (what a passage cites, read back through the reader, holds the passage)."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pdfs
import pytest
from rag.documents.chunking import chunk
from rag.documents.decoding import SkipFile
from rag.documents.readers import find_reader, reader_for
from rag.documents.readers.pdf import NO_TEXT, PdfReader
from rag.documents.ingest import read_seed
from rag.documents.files import SeedFile


def parse(data: bytes):
    return PdfReader().parse("paper.pdf", data)


def words(text: str) -> list[str]:
    return text.split()


def test_pdf_is_registered_and_isolated():
    reader = find_reader("Paper.PDF")
    assert isinstance(reader, PdfReader) and reader.isolated


def test_pages_lines_and_citation_within_the_page():
    data = pdfs.paper([
        [["The first page speaks of cats.", "", "Cats purr when content."]],
        [["The second page speaks of bread.", "Bread needs flour and water."]],
    ])
    doc = parse(data)
    assert doc.pages == 2
    assert doc.lines(1) == ["The first page speaks of cats.", "", "Cats purr when content."]
    assert doc.lines(2) == ["The second page speaks of bread.", "Bread needs flour and water."]
    ps = chunk(doc)
    assert [(p.page, p.line_start, p.line_end) for p in ps] == [(1, 1, 1), (1, 3, 3), (2, 1, 2)]
    assert str(ps[2].citation) == "paper.pdf:p2:1-2"


def test_passages_never_span_pages():
    # the last paragraph of page 1 runs on at the top of page 2: two passages, one per page
    data = pdfs.paper([[["A paragraph that starts on one page"]], [["and ends on the next one."]]])
    ps = chunk(parse(data))
    assert [(p.page, p.text) for p in ps] == [
        (1, "A paragraph that starts on one page"),
        (2, "and ends on the next one."),
    ]


SHORT_PARAGRAPHS = [
    "Automation began in the sixties, when electric lamps with automatic bulb changers and remote "
    "monitoring made resident keepers unnecessary on every station of the northern coast.",
    "Several towers are now museums run by volunteers, and visitors can climb the one hundred "
    "and twelve steps of the Gull Point tower between April and October each year.",
    "Keepers wrote the weather, passing ships and every problem with the lamp into a logbook, "
    "which the inspector read on his yearly visit to the station.",
]


def test_a_page_of_short_paragraphs_splits_between_them():
    # half the gaps on such a page are paragraph gaps: the line gap is not the median gap
    paras = [SHORT_PARAGRAPHS[0], "Most of the towers still stand.", SHORT_PARAGRAPHS[1]]
    doc = parse(pdfs.blocks([(10.5, "", t) for t in paras]))
    assert [len(p.text.split("\n")) for p in chunk(doc)] == [2, 1, 2]  # the lines as drawn
    assert [words(p.text) for p in chunk(doc)] == [words(t) for t in paras]


def test_a_heading_in_a_larger_font_is_the_section_of_the_paragraph_under_it():
    # no wider gap under the heading than between lines: its font size sets it apart
    doc = parse(pdfs.blocks([(14, "B", "Automation and preservation"), (10.5, "", SHORT_PARAGRAPHS[0])], gap=0.3))
    assert [(words(p.text), p.section) for p in chunk(doc)] == [(words(SHORT_PARAGRAPHS[0]), "Automation and preservation")]


def test_the_title_comes_from_the_metadata():
    doc = parse(pdfs.blocks([(10.5, "", SHORT_PARAGRAPHS[0])], title="  Lighthouses of the\nNorth "))
    assert doc.title == "Lighthouses of the North"
    assert {p.title for p in chunk(doc)} == {"Lighthouses of the North"}
    assert parse(pdfs.blocks([(10.5, "", SHORT_PARAGRAPHS[0])])).title is None


def test_hyphenation_at_line_ends_is_joined():
    data = pdfs.paper([[["Cats are known for their remark-", "able hearing and quick re-", "flexes."]]])
    assert parse(data).lines(1) == ["Cats are known for their remarkable", "hearing and quick reflexes."]


def test_hyphen_before_a_capital_or_a_number_stays():
    data = pdfs.paper([[["The Franco-", "Prussian war of 1870-", "1871 ended."]]])
    assert words(parse(data).text) == ["The", "Franco-", "Prussian", "war", "of", "1870-", "1871", "ended."]


@pytest.mark.parametrize("columns", [2, 3])
def test_columns_read_one_after_the_other(columns):
    cols = [[f"column {'abc'[c]} line {'xyz'[i]} text" for i in range(3)] for c in range(columns)]
    doc = parse(pdfs.paper([cols], columns=columns))
    assert words(doc.text) == words(" ".join(" ".join(c) for c in cols))
    # each column is its own paragraph: a passage never mixes two columns
    assert [p.text.split("\n") for p in chunk(doc)] == cols


def test_running_headers_and_page_numbers_are_left_out():
    pages = [[[f"Body text of page {name} about topic {name}."]] for name in ("one", "two", "three")]
    doc = parse(pdfs.paper(pages, header="Journal of Feline Studies, vol. 3", page_numbers=True))
    assert [doc.lines(p) for p in (1, 2, 3)] == [[f"Body text of page {n} about topic {n}."] for n in ("one", "two", "three")]
    assert "Journal" not in doc.text


def test_a_single_page_keeps_a_header_line_that_does_not_repeat():
    doc = parse(pdfs.paper([[["Only body."]]], header="A title line at the top"))
    assert "A title line at the top" in doc.text


def test_scanned_pdf_without_text_is_skipped():
    with pytest.raises(SkipFile, match="no text layer; OCR is not supported"):
        parse(pdfs.blank_pages(2))
    assert NO_TEXT == "no text layer; OCR is not supported"


def test_encrypted_pdf_is_skipped_with_a_clear_reason():
    with pytest.raises(SkipFile, match="encrypted"):
        parse(pdfs.encrypted("secret text"))


@pytest.mark.parametrize("data", [b"%PDF-1.4\nnot really", b"\x00" * 100, pdfs.many_pages(3)[:900]])
def test_damaged_pdfs_are_skipped(data):
    with pytest.raises(SkipFile):
        parse(data)


def test_read_seed_goes_through_the_budget_worker(tmp_path):
    path = pdfs.write(tmp_path / "a.pdf", pdfs.paper([[["Worker text line."]]]))
    r = read_seed(SeedFile("a.pdf", path))
    assert r.skip is None and r.document.text == "Worker text line." and r.document.pages == 1
    bad = pdfs.write(tmp_path / "b.pdf", pdfs.blank_pages(1))
    assert read_seed(SeedFile("b.pdf", bad)).skip == NO_TEXT


# ----------------------------------------------------------------- the citation invariant
# At 7 pt, four words of eight characters fit a column even in capital Ws: columns never overlap.
WORD = st.text(alphabet=string.ascii_letters + string.digits + ".,;:!?'()", min_size=1, max_size=8)
LINE = st.lists(WORD, min_size=0, max_size=4).map(" ".join)
COLUMN = st.lists(LINE, min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages=st.lists(st.lists(COLUMN, min_size=1, max_size=2), min_size=1, max_size=3), data=st.data())
def test_cited_location_read_back_holds_the_passage(tmp_path_factory, pages, data):
    columns = max(len(p) for p in pages)
    path = tmp_path_factory.mktemp("pdf") / "gen.pdf"
    path.write_bytes(pdfs.paper(pages, columns=columns, size=7))
    reader = reader_for(path)
    try:
        doc = reader.parse("gen.pdf", path.read_bytes())
    except SkipFile as exc:
        assert str(exc) == NO_TEXT and not any(w for p in pages for c in p for line in c for w in line.split())
        return
    back = reader.read(path)  # through the same reader, as the source view reads it
    for p in chunk(doc):
        assert p.page is not None and 1 <= p.page <= len(pages)
        lines = back.lines(p.page)[p.line_start - 1 : p.line_end]
        cited = "\n".join(lines)
        if p.col_end is not None:
            cited = cited[p.col_start - 1 :]
        assert p.text in cited
        assert doc.text[p.char_start : p.char_end] == p.text
    # nothing invented: every word read is a word drawn (hyphen joins aside, which need a '-')
    drawn = {w for pg in pages for c in pg for line in c for w in line.split()}
    assert set(doc.text.split()) <= drawn


def test_only_bare_numbers_count_as_page_numbers():
    # roman page numbers (front matter) go; words made of the letters of roman numerals stay
    assert parse(pdfs.paper([[["xiv", "cd", "mix", "civic"]]])).text.split() == ["cd", "mix", "civic"]
    assert parse(pdfs.paper([[["mix", "civic"]]])).text.split() == ["mix", "civic"]
    assert parse(pdfs.paper([[["Body line."]]], header="Page 3 of 9")).text == "Body line."
