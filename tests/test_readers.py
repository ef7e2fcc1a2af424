"""Readers: one per format, a registry by extension, documents with a location map."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes import FakeEncoder
from rag import Retriever, build_index
from rag.documents import readers
from rag.documents.chunking import chunk, text_hash
from rag.documents.document import Block, Document
from rag.documents.files import SeedFile, iter_seed_files
from rag.documents.ingest import read_seed
from rag.documents.readers import reader_for
from rag.documents.readers import registry
from rag.documents.readers.base import Reader
from rag.documents.readers.docx import DocxReader
from rag.documents.readers.html import HtmlReader
from rag.documents.readers.markdown import MarkdownReader
from rag.documents.readers.text import PlainTextReader
from rag.errors import SeedsError
from rag.types import Citation, Hit


def md(text: str):
    return chunk(MarkdownReader().parse("a.md", text.encode("utf-8")))


def sections(text: str) -> list[tuple[str, str | None]]:
    return [(p.text, p.section) for p in md(text)]


def test_text_reader_paragraphs_have_no_section_or_page():
    ps = chunk(PlainTextReader().parse("a.txt", b"# not a heading\nfirst\n\nsecond\n"))
    assert [(p.text, p.line_start, p.line_end, p.section, p.page) for p in ps] == [
        ("# not a heading\nfirst", 1, 2, None, None),
        ("second", 4, 4, None, None),
    ]


def test_markdown_nested_headings_give_section_paths():
    text = "# Setup\n\nIntro.\n\n## Install\n\nRun make.\n\n### Linux\n\nUse apt.\n\n## Use\n\nGo.\n\n# Other\n\nEnd.\n"
    assert sections(text) == [
        ("Intro.", "Setup"),
        ("Run make.", "Setup > Install"),
        ("Use apt.", "Setup > Install > Linux"),
        ("Go.", "Setup > Use"),
        ("End.", "Other"),
    ]


def test_markdown_heading_interrupts_a_paragraph_and_closing_hashes_go():
    ps = md("Before text.\n## Title ##\nAfter text.\n")
    assert [(p.text, p.line_start, p.section) for p in ps] == [
        ("Before text.", 1, None),
        ("After text.", 3, "Title"),
    ]


def test_markdown_setext_headings():
    ps = md("Guide\n=====\n\nText one.\n\nPart two\n--------\n\nText two.\n")
    assert [(p.text, p.line_start, p.line_end, p.section) for p in ps] == [
        ("Text one.", 4, 4, "Guide"),
        ("Text two.", 9, 9, "Guide > Part two"),
    ]


def test_markdown_code_fence_hash_lines_are_not_headings():
    text = "# Build\n\n```sh\n# install deps\npip install x\n\n# run\nmake\n```\n\nDone.\n\n    # indented code\n"
    ps = md(text)
    assert [(p.text, p.section) for p in ps] == [
        ("# install deps\npip install x\n\n# run\nmake", "Build"),  # one block, blanks and all, no fences
        ("Done.", "Build"),
        ("    # indented code", "Build"),
    ]
    assert (ps[0].line_start, ps[0].line_end) == (4, 8)


def test_markdown_front_matter_is_not_indexed_nor_a_heading():
    text = "---\ntitle: Notes\ntags: [a]\n---\n\n# Real\n\nBody.\n"
    ps = md(text)
    assert [(p.text, p.line_start, p.section, p.title) for p in ps] == [("Body.", 8, "Real", "Notes")]


def test_markdown_thematic_break_and_list_before_dashes_are_not_headings():
    ps = md("- item one\n- item two\n\n---\n\nText.\n\n***\n\nMore.\n")
    assert [(p.text, p.section) for p in ps] == [("item one\nitem two", None), ("Text.", None), ("More.", None)]


def test_markdown_same_text_in_two_sections_is_kept_in_each():
    ps = md("# A\n\nRun it.\n\n# B\n\nRun it.\n\nRun it.\n")
    assert [(p.text, p.section, p.line_start) for p in ps if p.text == "Run it."] == [
        ("Run it.", "A", 3),
        ("Run it.", "B", 7),
    ]


def test_registry_picks_by_extension_and_refuses_unknown(tmp_path):
    assert isinstance(reader_for("x/NOTES.MD"), MarkdownReader)
    assert isinstance(reader_for(Path("a.txt")), PlainTextReader)
    assert isinstance(reader_for("page.HTM"), HtmlReader) and isinstance(reader_for("r.docx"), DocxReader)
    with pytest.raises(SeedsError, match=r"unsupported format \.odt \(readers: \.txt, \.md, .*\.html, \.htm"):
        reader_for("report.odt")
    with pytest.raises(SeedsError, match=r"unsupported format \.rtf \(readers: \.txt, \.md, "):
        reader_for("report.rtf")


class RstReader(PlainTextReader):
    name = "rst"
    extensions = (".rst",)


def test_a_registered_reader_makes_its_format_indexed(tmp_path, monkeypatch):
    """Adding a format = a reader and its registration: the walk lists it, read_seed uses it."""
    (tmp_path / "a.rst").write_text("Title\n\nSome words.\n", encoding="utf-8")
    files, skipped = iter_seed_files(tmp_path)
    assert files == [] and skipped[0].reason.startswith("unsupported format .rst")
    monkeypatch.setattr(registry, "_READERS", dict(registry._READERS))
    readers.register(RstReader())
    files, skipped = iter_seed_files(tmp_path)
    assert [f.source for f in files] == ["a.rst"] and skipped == []
    r = read_seed(files[0])
    # read as plain text: "Title", a short line before a sentence, is the section, not a passage
    assert r.skip is None and [(p.text, p.section) for p in chunk(r.document)] == [("Some words.", "Title")]


def test_register_refuses_an_extension_without_dot(monkeypatch):
    monkeypatch.setattr(registry, "_READERS", dict(registry._READERS))

    class Bad(Reader):
        extensions = ("rst",)

    with pytest.raises(ValueError):
        readers.register(Bad())


def paged() -> Document:
    """A two-page document as a PDF reader would hand it over: pages end with a newline."""
    page1 = "Intro line\n\nSecond para\n"
    page2 = "Page two top\nmore\n\nLast words"
    text = page1 + page2
    blocks = [Block(0, 10), Block(12, 23), Block(24, 41), Block(43, len(text))]
    return Document("r.pdf", text, blocks, page_starts=(0, len(page1)))


def test_a_paged_document_cites_page_and_lines_within_it():
    doc = paged()
    ps = chunk(doc)
    assert [(p.text, p.page, p.line_start, p.line_end) for p in ps] == [
        ("Intro line", 1, 1, 1),
        ("Second para", 1, 3, 3),
        ("Page two top\nmore", 2, 1, 2),
        ("Last words", 2, 4, 4),
    ]
    assert [str(p.citation) for p in ps] == ["r.pdf:p1:1", "r.pdf:p1:3", "r.pdf:p2:1-2", "r.pdf:p2:4"]
    for p in ps:  # read back through the document's lines of that page
        assert "\n".join(doc.lines(page=p.page)[p.line_start - 1 : p.line_end]) == p.text
    with pytest.raises(ValueError):
        doc.lines(page=3)


def test_citation_str_for_text_is_unchanged_and_section_is_not_in_it():
    assert str(Citation("a.txt", 3, 3)) == "a.txt:3"
    assert str(Citation("a.md", 3, 5, section="Setup > Install")) == "a.md:3-5"
    assert str(Citation("a.txt", 2, 2, 7, 17)) == "a.txt:2:7-17"
    assert str(Citation("a.pdf", 2, 3, 4, 9, page=7)) == "a.pdf:p7:2:4-3:9"


def test_json_has_page_and_section_none_for_text():
    h = Hit(row=0, rank=1, score=1.0, text="t", source="a.txt", path="/a.txt", line_start=1, line_end=1,
            paragraph=1, char_start=0, char_end=1)
    d = h.to_dict()
    assert d["page"] is None and d["section"] is None
    assert d["citation"] == "a.txt:1"


def test_sections_survive_the_index_and_reach_hits_and_json(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "guide.md").write_text(
        "# Setup\n\n## Install\n\nThe kettle needs descaling every month.\n", encoding="utf-8"
    )
    (seeds / "plain.txt").write_text("Bread rises because yeast makes gas.\n", encoding="utf-8")
    enc = FakeEncoder()
    build_index(seeds, tmp_path / "idx", encoder=enc)
    r = Retriever.open(tmp_path / "idx", encoder=enc)
    hits = r.search("kettle descaling month", k=5, mode="bm25")
    top = hits[0]
    assert (top.source, top.section, top.page, str(top.citation)) == ("guide.md", "Setup > Install", None, "guide.md:5")
    d = top.to_dict()
    assert (d["section"], d["page"]) == ("Setup > Install", None)
    bread = r.search("yeast bread", k=1, mode="bm25")[0]
    assert (bread.source, bread.section) == ("plain.txt", None)


def test_hash_of_passage_is_of_what_is_embedded():
    p = md("# T\n\nBody words.\n")[0]
    assert p.hash == text_hash("T\nBody words.")  # the title (the first H1) in front
    q = chunk(PlainTextReader().parse("a.txt", b"Body words.\n"))[0]
    assert q.hash == text_hash("Body words.")


def test_reader_read_raises_a_seeds_error_for_a_vanished_file(tmp_path):
    with pytest.raises(SeedsError, match="rag index"):
        reader_for("gone.md").read(tmp_path / "gone.md")


def test_seedfile_of_markdown_reads_through_markdown(tmp_path):
    p = tmp_path / "n.md"
    p.write_text("Guide\n=====\n\nBody.\n", encoding="utf-8")
    r = read_seed(SeedFile("n.md", p))
    assert [(q.text, q.section, q.title) for q in chunk(r.document)] == [("Body.", "Guide", "Guide")]


# ------------------------------------------------------------------ Markdown as structure (issue 11)
def test_markdown_inline_markup_is_out_of_the_text_on_the_same_lines():
    src = (
        "Install the **package** with `pip` and _read_ [the docs](http://x.org/a_b \"t\").\n"
        "A ~~bad~~ logo ![the logo](logo.png) and <b>bold</b> \\*stars\\*.\n"
    )
    ps = md(src)
    assert [(p.text, p.line_start, p.line_end) for p in ps] == [
        ("Install the package with pip and read the docs.\nA bad logo the logo and bold *stars*.", 1, 2)
    ]
    assert str(ps[0].citation) == "a.md:1-2"


def test_markdown_front_matter_title_yaml_toml_and_first_h1():
    yaml_doc = MarkdownReader().parse("a.md", b"---\ntitle: 'Field notes'\n---\n# Heading\n\nBody.\n")
    toml_doc = MarkdownReader().parse("a.md", b'+++\ntitle = "Tea guide"\ndate = 2024-01-01\n+++\n\nBody.\n')
    h1_doc = MarkdownReader().parse("a.md", b"Intro.\n\n## Sub\n\n# The title\n\n# Later\n")
    none_doc = MarkdownReader().parse("a.md", b"---\nnot: [yaml\n---\n\nBody.\n")
    assert (yaml_doc.title, toml_doc.title, h1_doc.title, none_doc.title) == ("Field notes", "Tea guide", "The title", None)
    assert [p.text for p in chunk(toml_doc)] == ["Body."]  # front matter is no text


def test_markdown_short_list_is_one_passage_long_items_are_their_own():
    short = md("Intro:\n\n- red\n- green\n- blue\n")
    assert [(p.text, p.line_start, p.line_end) for p in short] == [("Intro:", 1, 1), ("red\ngreen\nblue", 3, 5)]
    ps = md(f"- {'word ' * 70}\n- a\n- b\n- {'other ' * 70}\n")
    assert [(p.line_start, p.line_end) for p in ps] == [(1, 1), (2, 3), (4, 4)]
    assert ps[1].text == "a\nb"


def test_markdown_code_fence_is_its_own_passage_kept_exactly():
    ps = md("Run this:\n```python\nx = **kw  # [not](a link)\n\n```\nThen go.\n")
    assert [(p.text, p.line_start, p.line_end) for p in ps] == [
        ("Run this:", 1, 1),
        ("x = **kw  # [not](a link)", 3, 3),
        ("Then go.", 6, 6),
    ]


def test_markdown_tables_keep_cells_apart():
    ps = md("| Name | Size |\n|---|---:|\n| *kettle* | 1.7 l |\n")
    assert [(p.text, p.line_start, p.line_end) for p in ps] == [("Name | Size\n\nkettle | 1.7 l", 1, 3)]


def test_header_prefix_puts_title_and_section_into_bm25(tmp_path):
    """A passage is found by the words of its document's title and its section, which are not in its text."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "guide.md").write_text(
        "---\ntitle: Zephyr handbook\n---\n\n# Zephyr handbook\n\n## Descaling\n\nUse vinegar monthly.\n\n"
        "## Storage\n\nKeep it dry.\n",
        encoding="utf-8",
    )
    (seeds / "plain.txt").write_text("Descaling of boilers uses acid.\n\nBread needs yeast.\n", encoding="utf-8")
    enc = FakeEncoder()
    build_index(seeds, tmp_path / "idx", encoder=enc)
    r = Retriever.open(tmp_path / "idx", encoder=enc)
    hits = r.search("zephyr descaling", k=2, mode="bm25")
    top = hits[0]
    assert (top.text, top.source, top.section, top.title) == ("Use vinegar monthly.", "guide.md", "Zephyr handbook > Descaling", "Zephyr handbook")
    d = top.to_dict()
    assert (d["text"], d["section"], d["title"], d["citation"]) == ("Use vinegar monthly.", "Zephyr handbook > Descaling", "Zephyr handbook", "guide.md:9")
    assert r.search("bread", k=1, mode="bm25")[0].to_dict()["title"] is None


def test_chunk_header_does_not_repeat_the_title():
    from rag.documents.headers import chunk_header, with_header

    assert chunk_header("Guide", "Guide > Install") == "Guide > Install"
    assert chunk_header("Notes", "Setup > Install") == "Notes > Setup > Install"
    assert chunk_header(None, None) == "" and with_header("x", None, None) == "x"
    assert with_header("Run.", "T", "Setup") == "T > Setup\nRun."
