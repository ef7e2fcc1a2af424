"""HTML and DOCX readers: main content, heading paths, tables, hostile files, and the citation
invariant (the cited location, read back through the same reader, holds the passage's text)."""

from __future__ import annotations

import functools
import io
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import docx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fakes import FakeEncoder
from rag import Retriever, build_index
from rag.documents.chunking import chunk
from rag.documents.decoding import SkipFile
from rag.documents.files import SeedFile
from rag.documents.ingest import read_seed
from rag.documents.readers import reader_for
from rag.documents.readers.docx import DocxReader
from rag.documents.readers.html import HtmlReader

ROOT = Path(__file__).resolve().parents[1]


def collapse(s: str) -> str:
    return " ".join(s.split())


# ----------------------------------------------------------------------------- HTML, by example

PAGE = """<!DOCTYPE html><html><head><title>Garden Notes</title></head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/about">About zzqnav</a></li></ul></nav>
<div class="cookie-banner" id="cookie-consent">We use cookies zzqcookie. <button>Accept all cookies</button></div>
<article>
<h1>Growing Tomatoes</h1>
<p>Tomatoes need <b>full sun</b> and <a href="/soil">rich soil</a> to give a good crop in late summer.</p>
<h2>Watering</h2>
<p>Water deeply twice a week, at the base of the plant, never on the leaves in the evening.<br>Mulch keeps the soil moist.</p>
<ul><li>Use a soaker hose for even watering</li><li>Check the soil with a finger <code>2 cm</code> deep</li></ul>
<h3>Drought</h3>
<p>In a drought, water every morning before the heat of the day arrives in the garden.</p>
<table><tr><th>Month</th><th>Litres</th></tr><tr><td>June</td><td>10</td></tr></table>
<h2>Pests</h2>
<p>Aphids gather under the leaves; a strong jet of water removes most of them without any spray.</p>
</article>
<footer><p>Copyright 2024 zzqfooter. All rights reserved.</p></footer>
<div id="comments"><form id="commentform"><p>Leave a Reply zzqform</p><textarea></textarea></form></div>
</body></html>"""


def html_passages(page: str):
    return chunk(HtmlReader().parse("page.html", page.encode("utf-8")))


def test_html_main_content_under_heading_paths():
    ps = html_passages(PAGE)
    got = [(p.section, p.text) for p in ps]
    assert got == [
        ("Growing Tomatoes", "Tomatoes need full sun and rich soil to give a good crop in late summer."),
        (
            "Growing Tomatoes > Watering",
            "Water deeply twice a week, at the base of the plant, never on the leaves in the evening.\n"
            "Mulch keeps the soil moist.",
        ),
        ("Growing Tomatoes > Watering", "Use a soaker hose for even watering\nCheck the soil with a finger 2 cm deep"),
        (
            "Growing Tomatoes > Watering > Drought",
            "In a drought, water every morning before the heat of the day arrives in the garden.",
        ),
        ("Growing Tomatoes > Watering > Drought", "Month | Litres\nJune | 10"),
        ("Growing Tomatoes > Pests", "Aphids gather under the leaves; a strong jet of water removes most of them without any spray."),
    ]
    assert {p.title for p in ps} == {"Garden Notes"}
    assert [p.citation.section for p in ps] == [p.section for p in ps]


def test_html_leaves_out_navigation_cookies_footer_and_comment_form():
    doc = HtmlReader().parse("page.html", PAGE.encode())
    for marker in ("zzqnav", "zzqcookie", "zzqfooter", "zzqform", "Accept all"):
        assert marker not in doc.text


def test_html_passages_hold_no_markup():
    for p in html_passages(PAGE):
        for mark in ("<", ">", "**", "](", "`", "- "):
            assert mark not in p.text.replace(" > ", ""), (mark, p.text)


def test_html_citations_are_lines_of_the_extracted_text(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(PAGE, encoding="utf-8")
    r = read_seed(SeedFile("page.html", path))
    assert r.skip is None
    ps = chunk(r.document)
    back = reader_for(path).read(path, source="page.html")
    lines = back.lines()
    aphids = [p for p in ps if p.text.startswith("Aphids")][0]
    assert lines[aphids.line_start - 1] == aphids.text
    assert lines[aphids.line_start - 3] == "Pests"  # the heading stands above it in the text shown
    assert str(aphids.citation) == f"page.html:{aphids.line_start}"


def test_html_extraction_is_deterministic_across_processes(tmp_path):
    """The citation invariant needs the same text when the source view reads the page again later."""
    path = tmp_path / "page.html"
    path.write_text(PAGE, encoding="utf-8")
    code = (
        "import sys; from rag.documents.readers.html import HtmlReader;"
        "sys.stdout.write(HtmlReader().read(sys.argv[1]).text)"
    )
    runs = {
        subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert runs == {HtmlReader().read(path).text}


def test_html_in_another_encoding_and_as_a_fragment():
    page = '<html><head><meta charset="windows-1252"></head><body><p>Caf\xe9 cr\xe8me br\xfbl\xe9e recipe.</p></body></html>'
    assert "Café crème brûlée recipe." in HtmlReader().parse("a.html", page.encode("cp1252")).text
    assert HtmlReader().parse("b.htm", b"just a line of text").text == "just a line of text"


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (b"<html><body>" + b"<div>" * 5000 + b"<p>deep</p>" + b"</div>" * 5000 + b"</body></html>", "parser's limits"),
        (b"<html><head><title>Only a title</title></head><body><img src='a.png'></body></html>", "no main content"),
    ],
)
def test_html_that_cannot_be_read_is_skipped_with_a_reason(data, reason):
    with pytest.raises(SkipFile, match=reason):
        HtmlReader().parse("bad.html", data)


# ----------------------------------------------------------------------------- DOCX, by example


def docx_bytes(build) -> bytes:
    d = docx.Document()
    build(d)
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def _report(d) -> None:
    d.core_properties.title = "Annual Report"
    d.add_paragraph("Annual Report 2024", style="Title")
    d.add_heading("Results", 1)
    d.add_paragraph("Revenue grew by ten percent over the year.")
    d.add_paragraph("")
    d.add_paragraph("first point", style="List Bullet")
    d.add_paragraph("second point", style="List Number")
    d.add_heading("Costs", 2)
    t = d.add_table(rows=2, cols=3)
    for r, row in enumerate(t.rows):
        for c, cell in enumerate(row.cells):
            cell.text = f"cell {r}{c}"
    d.add_paragraph("After the table,\nwith a soft break.")
    d.add_heading("Outlook", 1)
    d.add_paragraph("Next year looks steady.")


def test_docx_paragraphs_headings_lists_tables_in_order():
    doc = DocxReader().parse("r.docx", docx_bytes(_report))
    ps = chunk(doc)
    assert [(str(p.citation), p.section, p.text) for p in ps] == [
        ("r.docx:3", "Results", "Revenue grew by ten percent over the year."),
        ("r.docx:5-6", "Results", "first point\nsecond point"),
        ("r.docx:8-9", "Results > Costs", "cell 00 | cell 01 | cell 02\ncell 10 | cell 11 | cell 12"),
        ("r.docx:10", "Results > Costs", "After the table, with a soft break."),
        ("r.docx:12", "Outlook", "Next year looks steady."),
    ]
    assert {p.title for p in ps} == {"Annual Report"}
    # line N is paragraph N of the body: headings, the empty paragraph and table rows counted
    assert doc.lines()[0] == "Annual Report 2024" and doc.lines()[3] == ""


def test_docx_merged_cells_once():
    def build(d):
        t = d.add_table(rows=1, cols=3)
        a, b, c = t.rows[0].cells
        a.merge(b).text = "wide"
        c.text = "narrow"

    assert DocxReader().parse("t.docx", docx_bytes(build)).text == "wide | narrow"


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


@functools.cache
def zip_bomb() -> bytes:
    """A DOCX whose text part inflates to 300 MB from well under 1 MB (zeros compress ~1000:1)."""
    real = zipfile.ZipFile(io.BytesIO(docx_bytes(lambda d: d.add_paragraph("x"))))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in real.infolist():
            if info.filename != "word/document.xml":
                zf.writestr(info.filename, real.read(info.filename))
        with zf.open("word/document.xml", "w", force_zip64=True) as f:
            block = b"\0" * (1 << 20)
            for _ in range(300):
                f.write(block)
    return out.getvalue()


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"PK\x03\x04 this is not really a zip", "damaged ZIP"),
        (b"plain text saved as .docx", "damaged ZIP"),
        (zip_bytes({"hello.txt": b"hi"}), "not a Word document"),
        (zip_bytes({"word/document.xml": b"<not xml"}), "not a readable DOCX"),
        (docx_bytes(lambda d: d.add_paragraph("")), "no text"),
    ],
)
def test_docx_that_cannot_be_read_is_skipped_with_a_reason(data, reason):
    with pytest.raises(SkipFile, match=reason):
        DocxReader().parse("bad.docx", data)


def test_docx_zip_bomb_is_refused_before_inflating():
    bomb = zip_bomb()
    assert len(bomb) < 2 * 1024 * 1024
    with pytest.raises(SkipFile, match="zip bomb|expands to 300 MB"):
        DocxReader().parse("bomb.docx", bomb)


# ----------------------------------------------------------------------------- hostile files in a build


def test_hostile_html_and_docx_are_skipped_and_the_rest_indexed(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    with open(seeds / "huge.html", "wb") as f:  # a 100 MB page
        f.write(b"<html><body>")
        chunk_ = b"<p>" + b"lorem ipsum dolor sit amet " * 36 + b"</p>\n"
        for _ in range(100 * 1024 * 1024 // len(chunk_) + 1):
            f.write(chunk_)
        f.write(b"</body></html>")
    (seeds / "deep.html").write_bytes(b"<html><body>" + b"<div>" * 100_000 + b"<p>x</p>" + b"</body></html>")
    (seeds / "bomb.docx").write_bytes(zip_bomb())
    (seeds / "broken.docx").write_bytes(b"PK\x03\x04garbage")
    (seeds / "good.html").write_text(PAGE, encoding="utf-8")
    (seeds / "good.docx").write_bytes(docx_bytes(_report))

    stats = build_index(seeds, tmp_path / "idx", encoder=FakeEncoder())

    reasons = {s.source: s.reason for s in stats.skipped}
    assert set(reasons) == {"huge.html", "deep.html", "bomb.docx", "broken.docx"}
    assert "limit" in reasons["huge.html"]
    assert "limits" in reasons["deep.html"]
    assert "zip bomb" in reasons["bomb.docx"]
    assert "damaged ZIP" in reasons["broken.docx"]
    r = Retriever.open(tmp_path / "idx", encoder=FakeEncoder())
    assert {p.source for p in r.passages} == {"good.html", "good.docx"}
    hits = r.search("aphids under the leaves", k=3)
    assert hits[0].to_dict()["section"] == "Growing Tomatoes > Pests"
    assert hits[0].to_dict()["title"] == "Garden Notes"


# ----------------------------------------------------------------------------- property: HTML

word = st.from_regex(r"[A-Za-z]{2,9}", fullmatch=True)
special = st.sampled_from(["naïve", "日本語", "Жук", "e.g.", "3.5", "%s", "{}", "&amp;", "&lt;tag&gt;", "🙂"])
sentence = st.lists(st.one_of(word, word, word, special), min_size=3, max_size=14).map(" ".join)
title_words = st.lists(word, min_size=1, max_size=4).map(" ".join)
inline = st.sampled_from(["{}", "<b>{}</b>", "<em>{}</em>", '<a href="/x">{}</a>', "<code>{}</code>", "<span>{}</span>"])


@dataclass
class HtmlCase:
    data: bytes
    truth: dict[str, set[str | None]]  # collapsed text of a paragraph -> sections it was written under


def html_case(title: str, parts: list[tuple]) -> HtmlCase:
    """The page for ``parts`` (``("h", level, text)``, ``("p" | "br", [inline pattern, sentence]...)``,
    ``("ul", [item, ...])``) inside navigation and a footer, and its truth: for the collapsed text
    of each paragraph, list item and whole list, the sections it was written under. (A whole list
    reads as its items' lines; collapsed, it can equal a paragraph written elsewhere from the same
    sentences, so both places are in the truth.)"""
    html: list[str] = []
    truth: dict[str, set[str | None]] = {}
    stack: list[tuple[int, str]] = []

    def note(t: str, section: str | None) -> None:
        key = collapse(t.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
        truth.setdefault(key, set()).add(section)

    for part in parts:
        if part[0] == "h":
            _, level, t = part
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, t))
            html.append(f"<h{level}>{t}</h{level}>")
            continue
        section = " > ".join(t for _, t in stack) or None
        if part[0] == "ul":
            items = part[1]
            html.append("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
            for i in items:
                note(i, section)
            note(" ".join(items), section)
        else:
            kind, pieces = part
            html.append("<p>" + ("<br>" if kind == "br" else " ").join(pat.format(s) for pat, s in pieces) + "</p>")
            note(" ".join(s for _, s in pieces), section)
    nav = '<nav><ul><li><a href="/">Home</a></li><li><a href="/a">About</a></li></ul></nav>'
    footer = "<footer><p>Copyright 2024. All rights reserved.</p></footer>"
    page = f"<html><head><title>{title}</title></head><body>{nav}<article>{''.join(html)}</article>{footer}</body></html>"
    return HtmlCase(page.encode("utf-8"), truth)


@st.composite
def html_pages(draw) -> HtmlCase:
    parts: list[tuple] = []
    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(["h", "p", "p", "p", "ul", "br"]))
        if kind == "h":
            parts.append(("h", draw(st.integers(1, 4)), draw(title_words)))
        elif kind == "ul":
            parts.append(("ul", draw(st.lists(sentence, min_size=1, max_size=4))))
        else:
            sents = draw(st.lists(sentence, min_size=1, max_size=4))
            parts.append((kind, [(draw(inline), s) for s in sents]))
    return html_case(draw(title_words), parts)


# Found by hypothesis: a list (under no heading) whose items, collapsed, read like a paragraph
# written later under "iuGKjaBxV EAiSE wkxVrriIW" from the same sentences. The reader put each
# where it was written; the old truth knew the text only as that paragraph's.
_ITEMS = [
    "nGbVYqUx {} 日本語 {} mmZNjC qyhwUadJq bDsBb e.g. naïve WuWt Жук naïve DWkVxud EkSBFewwO",
    "ZqA Жук IbClCSqc",
    "%s rV jxyDVcdNJ &lt;tag&gt; e.g. yhk {} {} UCF ik kiErw 🙂",
    "e.g. 🙂 UuzvSzyy KVcGi",
]
LIST_THEN_SAME_PARAGRAPH = html_case(
    "nG OBWGExfii UmAhZb ADI",
    [
        ("p", [("{}", "AAA AAAfhTm naïve naïve PkqMyfv QlfND AAA AA lBkhfhc aGdmlIsAp AAA AAAjeV BP AAA AA LAszr yRM Wu HnboAoIu AAA Th fzWcjpqPD")]),
        ("ul", _ITEMS),
        ("h", 4, "GjOW"),
        ("ul", ["DI Czwzhhgpb AA AA xwXMd &amp; e.g. irYbpMflf &lt;tag&gt;", "&amp; &lt;tag&gt; AybbhPNK zv %s IA &lt;tag&gt; naïve WG CwnF zf 日本語 qor Жук", "EnmqG 🙂 ZAUoKclSI 日本語 🙂 LNTC qDLE 3.5 日本語 aLi %s"]),
        ("p", [("<span>{}</span>", "🙂 Жук {} NXDr"), ("<span>{}</span>", "Жук vY {} rWfBjpi")]),
        ("h", 3, "PUJu bSkXm"),
        ("h", 1, "iuGKjaBxV EAiSE wkxVrriIW"),
        ("p", [('<a href="/x">{}</a>', _ITEMS[0]), ("{}", _ITEMS[1]), ("<em>{}</em>", _ITEMS[2]), ("<span>{}</span>", _ITEMS[3])]),
        ("h", 2, "cgu"),
    ],
)


def check_cited_location(path: Path, source: str, ps) -> None:
    """Every passage's cited lines, read back through the file's reader, hold its text."""
    back = reader_for(path).read(path, source=source)
    for p in ps:
        lines = back.lines(page=p.page)
        assert 1 <= p.line_start <= p.line_end <= len(lines)
        cited = "\n".join(lines[p.line_start - 1 : p.line_end])
        if p.col_end is None:
            assert cited.strip() == p.text.strip()
        else:
            last = len(cited) - len(lines[p.line_end - 1])
            assert cited[p.col_start - 1 : last + p.col_end] == p.text
        assert back.text[p.char_start : p.char_end] == p.text
        assert p.citation.section == p.section


def token_ends(text: str) -> list[int]:
    import re

    return [m.end() for m in re.finditer(r"\S+", text)]


@pytest.mark.slow
@given(case=html_pages(), max_tokens=st.one_of(st.none(), st.integers(2, 20)))
@example(case=LIST_THEN_SAME_PARAGRAPH, max_tokens=None)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_html_passages_cite_lines_that_read_back(tmp_path, case, max_tokens):
    path = tmp_path / "page.html"
    path.write_bytes(case.data)
    r = read_seed(SeedFile("page.html", path))
    if r.skip is not None:
        assert "no main content" in r.skip  # trafilatura may judge a tiny page to be boilerplate
        return
    ps = chunk(r.document, token_ends=token_ends if max_tokens else None, max_tokens=max_tokens)
    check_cited_location(path, "page.html", ps)
    for p in ps:
        assert "<" not in p.text.replace("<tag>", "") and ">" not in p.text.replace("<tag>", "")
        # a passage that is a whole generated paragraph carries the heading path it was written under
        key = collapse(p.text)
        if key in case.truth and max_tokens is None:
            assert p.section in case.truth[key], (p.section, case.truth[key])


# ----------------------------------------------------------------------------- property: DOCX


@dataclass
class DocxCase:
    data: bytes
    paragraphs: list[tuple[str, str | None]]  # every body paragraph (table rows too): its line and section
    headings: set[int]  # indices of the heading paragraphs


@st.composite
def docx_documents(draw) -> DocxCase:
    d = docx.Document()
    truth: list[tuple[str, str | None]] = []
    headings: set[int] = set()
    stack: list[tuple[int, str]] = []
    n = iter(range(10_000))

    def unique(s: str) -> str:  # every paragraph distinct, so none is dropped as a repeat
        return f"{s} u{next(n)}"

    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(["h", "p", "p", "empty", "list", "table"]))
        section = " > ".join(t for _, t in stack) or None
        if kind == "h":
            level, t = draw(st.integers(1, 3)), draw(title_words)
            d.add_heading(t, level)
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, t))
            headings.add(len(truth))
            truth.append((t, " > ".join(x for _, x in stack)))
        elif kind == "p":
            s = [unique(x) for x in draw(st.lists(sentence, min_size=1, max_size=3))]
            d.add_paragraph(("\n" if draw(st.booleans()) else "\t").join(s))
            truth.append((collapse(" ".join(s)), section))
        elif kind == "empty":
            d.add_paragraph(draw(st.sampled_from(["", " ", "\t"])))
            truth.append(("", section))
        elif kind == "list":
            style = draw(st.sampled_from(["List Bullet", "List Number"]))
            for x in draw(st.lists(sentence, min_size=1, max_size=3)):
                text = unique(x)
                d.add_paragraph(text, style=style)
                truth.append((collapse(text), section))
        else:
            rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 3))
            t = d.add_table(rows=rows, cols=cols)
            for row in t.rows:
                cells = [unique(draw(sentence)) for _ in range(cols)]
                for cell, text in zip(row.cells, cells):
                    cell.text = text
                truth.append((" | ".join(collapse(c) for c in cells), section))
    out = io.BytesIO()
    d.save(out)
    return DocxCase(out.getvalue(), truth, headings)


@pytest.mark.slow
@given(case=docx_documents(), max_tokens=st.one_of(st.none(), st.integers(2, 20)))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_docx_passages_cite_paragraphs_that_read_back(tmp_path, case, max_tokens):
    path = tmp_path / "doc.docx"
    path.write_bytes(case.data)
    r = read_seed(SeedFile("doc.docx", path))
    content = [i for i, (text, _) in enumerate(case.paragraphs) if text and i not in case.headings]
    if not content:
        assert r.skip is not None and "no text" in r.skip
        return
    assert r.skip is None, r.skip
    ps = chunk(r.document, token_ends=token_ends if max_tokens else None, max_tokens=max_tokens)
    check_cited_location(path, "doc.docx", ps)
    # line N is paragraph N: the document's lines are the body's paragraphs, in order
    assert r.document.lines() == [text for text, _ in case.paragraphs]
    for p in ps:
        assert p.paragraph >= 1
        for line in range(p.line_start, p.line_end + 1):
            assert line - 1 not in case.headings  # a heading is no passage's text
            text, section = case.paragraphs[line - 1]
            assert not text or p.section == section
    # no text lost: every non-heading paragraph's words are in passages, in order
    assert [w for p in ps for w in p.text.split()] == [w for i in content for w in case.paragraphs[i][0].split()]
