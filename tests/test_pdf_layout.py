"""PDF layouts as they really come (issue 24): columns drawn in any order under a full-width title,
tables, rotated margin text, running heads with page numbers in them, hyphenation that keeps
compounds, headings as sections; and the citations still read back exactly."""

from __future__ import annotations

from pathlib import Path

import pdfs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rag.documents.chunking import chunk
from rag.documents.readers import reader_for
from rag.documents.readers.pdf import PdfReader

ROOT = Path(__file__).resolve().parents[1]
FEDERAL_REGISTER = ROOT / "bench" / "devsets" / "pdfs" / "docs" / "federal-register-2020-17221.pdf"

TOPICS = ["harbour", "lighthouse", "ferry", "tide", "gull", "rope", "anchor", "sail", "keel"]


def column(name: str, n: int = 4) -> list[str]:
    return [f"the {name} line {w} goes on" for w in ("one", "two", "three", "four", "five")[:n]]


def parse(data: bytes):
    return PdfReader().parse("paper.pdf", data)


@pytest.mark.parametrize("n", [2, 3])
def test_columns_drawn_row_by_row_under_a_title_read_column_by_column(n):
    cols = [column(TOPICS[c]) for c in range(n)]
    doc = parse(pdfs.laid_out([{"title": "Coastal Survey", "columns": cols}]))
    assert [p.text.split("\n") for p in chunk(doc)] == cols
    assert {p.section for p in chunk(doc)} == {"Coastal Survey"}


def test_a_table_under_the_columns_is_read_row_by_row():
    rows = [["Ship", "Tonnage", "Port"], ["Aurora", "120", "Leith"], ["Boreas", "95", "Wick"]]
    doc = parse(pdfs.laid_out([{"columns": [column("harbour"), column("ferry")], "table": rows}]))
    lines = doc.lines(1)
    assert [" ".join(r) for r in rows] == lines[-3:]
    assert lines.index("the ferry line one goes on") > lines.index("the harbour line four goes on")


def test_rotated_margin_text_is_never_one_letter_per_line():
    page = {"columns": [column("tide"), column("gull")], "margin": "Downloaded from the coastal archive"}
    doc = parse(pdfs.laid_out([page]))
    assert all(len(line.strip()) != 1 for line in doc.text.split("\n"))
    assert "Downloaded from the coastal archive" in doc.text.split("\n")  # one page: kept, as a line of its own
    assert [p.text for p in chunk(doc)][-1] == "Downloaded from the coastal archive"


def test_repeated_margin_text_running_heads_and_page_footers_are_left_out():
    pages = [
        {"columns": [column(TOPICS[2 * i]), column(TOPICS[2 * i + 1])], "margin": f"Downloaded {i + 3} May 2024",
         "header": "Harbour Journal, vol. 3, page {page}", "footer": "Page {page} of 4"}
        for i in range(4)
    ]
    doc = parse(pdfs.laid_out(pages))
    for p in range(1, 5):
        assert doc.lines(p) == column(TOPICS[2 * p - 2]) + [""] + column(TOPICS[2 * p - 1])
    assert "Journal" not in doc.text and "Downloaded" not in doc.text and "Page" not in doc.text


def test_a_page_number_high_above_the_bottom_edge_is_left_out():
    # LaTeX's default margins put the page number about 1.9 inches (48 mm) above the bottom edge
    pages = [{"columns": [column(TOPICS[i]), column(TOPICS[i + 3])], "footer": "{page}", "footer_at": 245} for i in range(3)]
    doc = parse(pdfs.laid_out(pages))
    assert [doc.lines(p)[-1] for p in (1, 2, 3)] == [column(TOPICS[i + 3])[-1] for i in range(3)]


@pytest.mark.parametrize("lines, elsewhere, want", [
    # the compound occurs as a word elsewhere: its hyphen stays
    (["the well-", "known keeper"], "a well-known tower", "the well-known keeper"),
    # the second half is a word of the document: a compound, its hyphen stays
    (["the well-", "known keeper"], "it is known", "the well-known keeper"),
    # the joined word occurs elsewhere: joined
    (["more infor-", "mation here"], "information desk", "more information here"),
    # no evidence either way: joined (a word broken at the line end)
    (["quite remark-", "able hearing"], "nothing else", "quite remarkable hearing"),
])
def test_hyphenation_is_joined_only_where_the_result_is_a_word(lines, elsewhere, want):
    doc = parse(pdfs.paper([[lines + ["", f"Elsewhere {elsewhere}."]]]))
    assert " ".join(doc.lines(1)[:2]) == want


def test_bold_and_larger_headings_become_the_section_path():
    pages = [
        {"title": "Coastal Survey", "heading": "Methods and tools", "columns": [column("tide"), column("gull")]},
        {"heading": "Results of the survey", "columns": [column("rope"), column("sail")]},
    ]
    doc = parse(pdfs.laid_out(pages))
    got = [(p.page, p.section, p.text.split("\n")[0]) for p in chunk(doc)]
    assert got == [
        (1, "Coastal Survey > Methods and tools", column("tide")[0]),
        (1, "Coastal Survey > Methods and tools", column("gull")[0]),
        (2, "Coastal Survey > Results of the survey", column("rope")[0]),
        (2, "Coastal Survey > Results of the survey", column("sail")[0]),
    ]
    assert "Methods and tools" in doc.lines(1)  # the heading stays in the page's text (its lines count)


def test_citations_of_a_laid_out_document_read_back_exactly(tmp_path):
    pages = [
        {"title": "Coastal Survey" if i == 0 else None, "columns": [column(TOPICS[3 * i + c]) for c in range(3)],
         "table": [["Ship", "Tonnage"], [f"Aurora {'ABC'[i]}", str(120 + i)]], "margin": "Downloaded 3 May 2024",
         "header": "Harbour Journal, page {page}", "footer": "{page}"}
        for i in range(3)
    ]
    path = pdfs.write(tmp_path / "survey.pdf", pdfs.laid_out(pages))
    reader = reader_for(path)
    doc = reader.parse("survey.pdf", path.read_bytes())
    back = reader.read(path)
    ps = chunk(doc)
    assert len(ps) == 3 * 4
    for p in ps:
        assert "\n".join(back.lines(p.page)[p.line_start - 1 : p.line_end]) == p.text
        assert str(p.citation) == f"survey.pdf:p{p.page}:{p.line_start}" + (f"-{p.line_end}" if p.line_end > p.line_start else "")


@pytest.mark.skipif(not FEDERAL_REGISTER.is_file(), reason="the development set's PDFs are not in this checkout")
def test_the_federal_register_notice_reads_in_order_without_furniture():
    doc = PdfReader().parse(FEDERAL_REGISTER.name, FEDERAL_REGISTER.read_bytes())
    ps = chunk(doc)
    assert not any(len(line.strip()) == 1 and line.strip().isalpha() for p in ps for line in p.text.split("\n"))
    assert not any("VerDate" in p.text or "Frm 0000" in p.text or "DSKJLSW7X2PROD" in p.text for p in ps)
    assert not any("Federal Register / Vol. 85" in p.text for p in ps)  # the running head of pages 2-15
    dates = next(p for p in ps if "DATES:" in p.text)
    assert "DATES: The FAA must receive comments on this proposed AD by September 21, 2020." in " ".join(dates.text.split())
    assert any(p.section and p.section.endswith("Comments Invited") for p in ps)


def test_a_slide_title_that_repeats_stays_a_heading():
    pages = [{"title": "Results so far", "columns": [column(TOPICS[i]), column(TOPICS[i + 3])], "footer": "Harbour talk {page}"}
             for i in range(3)]
    doc = parse(pdfs.laid_out(pages))
    assert all(doc.lines(p)[0] == "Results so far" for p in (1, 2, 3))
    assert "Harbour talk" not in doc.text
    assert {p.section for p in chunk(doc)} == {"Results so far"}


def test_ligatures_are_spelt_out():
    from rag.documents.readers.pdf.paragraphs import clean

    assert clean("the \ufb01rst \ufb02ow, e\ufb03cient\x07 ") == "the first flow, efficient"


def test_a_line_that_starts_with_a_bold_label_starts_a_paragraph():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    y = 20
    for label, rest in [("SUMMARY:", "The agency proposes a new rule for ferries."), (None, "It applies to all ferries."),
                        ("DATES:", "Comments are due by September 21, 2020."), ("ADDRESSES:", "Send comments by mail.")]:
        pdf.set_xy(10, y)
        if label:
            pdf.set_font("helvetica", "B", 10)
            pdf.cell(pdf.get_string_width(label + " "), 5, label + " ")
        pdf.set_font("helvetica", size=10)
        pdf.cell(150, 5, rest)
        y += 5
    ps = [p.text for p in chunk(parse(bytes(pdf.output())))]
    assert ps == ["SUMMARY: The agency proposes a new rule for ferries.\nIt applies to all ferries.",
                  "DATES: Comments are due by September 21, 2020.", "ADDRESSES: Send comments by mail."]


@pytest.mark.parametrize("angle", [90, 270])
def test_a_page_whose_text_is_turned_reads_left_to_right(angle):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    rows = ["State Permit Handgun Total", "Alabama 18,870 23,022 71,137", "Alaska 209 3,062 7,095", "Arizona 2,303 12,382 27,087"]
    with pdf.rotation(angle, x=105, y=148):
        for i, row in enumerate(rows):
            pdf.text(60, 120 + 6 * i, row)
    doc = parse(bytes(pdf.output()))
    assert doc.lines(1) == rows


def test_the_outline_names_headings_the_fonts_do_not_show():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    for title, level, body in [("Harbour works", 0, column("harbour")), ("2.1 Breakwater", 1, column("gull")),
                               ("Ferry services", 0, column("ferry"))]:
        pdf.add_page()
        pdf.start_section(title.split(" ", 1)[1] if title[0].isdigit() else title, level=level)
        pdf.set_xy(10, 20)
        pdf.cell(100, 5, title)  # the body's font and size: only the outline says it is a heading
        for i, line in enumerate(body):
            pdf.set_xy(10, 30 + 5 * i)
            pdf.cell(100, 5, line)
    ps = chunk(parse(bytes(pdf.output())))
    assert [(p.page, p.section) for p in ps] == [(1, "Harbour works"), (2, "Harbour works > 2.1 Breakwater"),
                                                 (3, "Ferry services")]


def test_a_centred_title_of_two_lines_is_one_heading():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", "B", 16)
    pdf.set_xy(10, 20)
    pdf.multi_cell(190, 7, "A New Model for Ranking the Requirements of Products Sold in Markets Using Hierarchies",
                   align="C")
    pdf.set_font("helvetica", size=10)
    for i, line in enumerate(column("harbour")):
        pdf.set_xy(10, 45 + 5 * i)
        pdf.cell(190, 5, line)
    ps = chunk(parse(bytes(pdf.output())))
    assert [(p.section, p.text.split("\n")) for p in ps] == [
        ("A New Model for Ranking the Requirements of Products Sold in Markets Using Hierarchies", column("harbour"))]


def test_a_list_item_with_a_hanging_indent_is_one_paragraph_and_an_indent_starts_one():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    lines = [(10, 20, "1. Abstract requirements: each requirement is stated [2]"),
             (16, 25, "in words any stakeholder can compare."),
             (10, 30, "2. No dependencies: there are no links [4] between"), (16, 35, "requirements; all stand alone."),
             (16, 45, "An indented paragraph follows the list after a gap."), (10, 50, "and it goes on here to its end."),
             (16, 55, "Another one starts indented after a full stop."), (10, 60, "And ends here.")]
    for x, y, text in lines:
        pdf.set_xy(x, y)
        pdf.cell(150, 5, text)
    got = [p.text.split("\n") for p in chunk(parse(bytes(pdf.output())))]
    assert got == [[t for _, _, t in lines[a:b]] for a, b in ((0, 2), (2, 4), (4, 6), (6, 8))]


def test_each_row_of_a_table_is_a_passage_under_its_head_row():
    rows = [["Ship", "Tonnage", "Port"], ["Aurora", "120", "Leith"], ["Boreas", "95", "Wick"]]
    doc = parse(pdfs.laid_out([{"heading": "Harbour fleet", "table": rows}]))
    ps = [(p.section, p.text) for p in chunk(doc)]
    assert ps == [("Harbour fleet", "Ship Tonnage Port"), ("Harbour fleet > Ship Tonnage Port", "Aurora 120 Leith"),
                  ("Harbour fleet > Ship Tonnage Port", "Boreas 95 Wick")]


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGH.,-", min_size=1, max_size=7)
_LINE = st.lists(_WORD, min_size=0, max_size=4).map(" ".join)
_PAGE = st.fixed_dictionaries({
    "columns": st.lists(st.lists(_LINE, min_size=1, max_size=8), min_size=1, max_size=3),
    "table": st.one_of(st.none(), st.lists(st.lists(_WORD, min_size=3, max_size=3), min_size=0, max_size=4)),
    "margin": st.one_of(st.none(), _LINE), "header": st.one_of(st.none(), st.just("Journal {page}")),
    "footer": st.one_of(st.none(), st.just("{page}")), "title": st.one_of(st.none(), _LINE),
})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages=st.lists(_PAGE, min_size=1, max_size=3))
def test_every_passage_of_any_layout_reads_back_exactly(tmp_path_factory, pages):
    from rag.documents.decoding import SkipFile

    path = tmp_path_factory.mktemp("pdf") / "gen.pdf"
    path.write_bytes(pdfs.laid_out(pages, body_size=7))
    reader = reader_for(path)
    try:
        doc = reader.parse("gen.pdf", path.read_bytes())
    except SkipFile:
        return
    back = reader.read(path)
    for p in chunk(doc):
        assert "\n".join(back.lines(p.page)[p.line_start - 1 : p.line_end]) == p.text
        assert doc.text[p.char_start : p.char_end] == p.text
