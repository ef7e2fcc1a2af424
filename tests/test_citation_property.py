"""Property tests: every passage cites lines of the original file that really hold its text.

Random documents are written to real files (random LF/CRLF endings, blank runs with spaces and tabs,
duplicate paragraphs, unicode, emoji, format strings), read back with ``read_seed`` and cut into
passages with and without splitting. The generator keeps the ground truth (which lines belong to
which paragraph) so the citations can be checked against it.
"""

from __future__ import annotations

import codecs
import sys
import re
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.documents.chunking import passages_of
from rag.documents.files import SeedFile
from rag.documents.ingest import read_seed

WORD_RE = re.compile(r"\S+")


def token_ends(text: str) -> list[int]:
    return [m.end() for m in WORD_RE.finditer(text)]


def collapse(s: str) -> str:
    return " ".join(s.split())


SPECIAL_WORDS = [
    "%s", "%d", "{}", "{0}", "[bold]", "[/bold]", "🙂", "👍🏽", "日本語", "naïve", "Ωmega", "Жук",
    "Dr.", "e.g.", "U.S.", "3.5", "end.", "Why?", "Yes!", '"Quote."', "wait...", "J.", "(aside)",
]

words = st.one_of(
    st.sampled_from(SPECIAL_WORDS),
    st.text(alphabet=st.characters(whitelist_categories=("Lu", "Ll", "Lo", "Nd")), min_size=1, max_size=8),
    st.from_regex(r"[A-Za-z]{1,7}[.?!]?", fullmatch=True),
)
separators = st.sampled_from([" ", " ", " ", "  ", "\t", " \t "])
pad = st.sampled_from(["", "", "", " ", "\t", "  \t"])


@st.composite
def lines_of_words(draw) -> str:
    ws = draw(st.lists(words, min_size=1, max_size=12))
    out = ws[0]
    for w in ws[1:]:
        out += draw(separators) + w
    return draw(pad) + out + draw(pad)


paragraph_st = st.lists(lines_of_words(), min_size=1, max_size=5)
blank_line = st.sampled_from(["", "", " ", "\t", "   ", " \t "])


@dataclass
class Doc:
    data: bytes
    lines: list[str]  # the document's lines, as generated
    paras: list[tuple[int, int]]  # ground truth: 1-based inclusive line range of each paragraph


@st.composite
def documents(draw) -> Doc:
    paras = draw(st.lists(paragraph_st, min_size=1, max_size=7))
    # optional duplicates: copies of earlier paragraphs inserted later
    for _ in range(draw(st.integers(0, 2))):
        src = draw(st.integers(0, len(paras) - 1))
        at = draw(st.integers(src + 1, len(paras)))
        paras.insert(at, list(paras[src]))
    lines: list[str] = []
    ranges: list[tuple[int, int]] = []
    lines += draw(st.lists(blank_line, max_size=3))  # optional leading blank lines
    for i, para in enumerate(paras):
        if i:
            lines += draw(st.lists(blank_line, min_size=1, max_size=3))
        start = len(lines) + 1
        lines += para
        ranges.append((start, len(lines)))
    lines += draw(st.lists(blank_line, max_size=3))  # optional trailing blank lines
    crlf = draw(st.sampled_from(["lf", "crlf", "mixed"]))
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        if i < len(lines) - 1 or draw(st.booleans()):
            if crlf == "mixed":
                out.append(draw(st.sampled_from(["\n", "\r\n"])))
            else:
                out.append("\r\n" if crlf == "crlf" else "\n")
    data = "".join(out).encode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        data = codecs.BOM_UTF8 + data
    return Doc(data, lines, ranges)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("citation_docs")


def original_lines(data: bytes) -> list[str]:
    """The file's lines as an editor shows them: decoded, split on LF, the CR of CRLF removed."""
    return [line.removesuffix("\r") for line in data.decode("utf-8-sig").split("\n")]


def check_document(workdir, doc: Doc, max_tokens: int | None) -> None:
    path = workdir / "doc.txt"
    path.write_bytes(doc.data)
    r = read_seed(SeedFile("doc.txt", path))
    assert r.skip is None, r.skip
    assert r.warning is None
    text = r.text
    assert text is not None
    if max_tokens is None:
        ps = passages_of("doc.txt", text)
    else:
        ps = passages_of("doc.txt", text, token_ends=token_ends, max_tokens=max_tokens)
    assert ps, "a document with words has passages"

    orig = original_lines(doc.data)
    assert orig[: len(doc.lines)] == doc.lines

    for p in ps:
        # (a) the cited lines of the original file hold the passage text
        assert 1 <= p.line_start <= p.line_end <= len(orig)
        cited = "\n".join(orig[p.line_start - 1 : p.line_end])
        assert collapse(p.text) in collapse(cited)
        # the first line holds the passage's first line at its column
        first = p.text.split("\n")[0]
        assert orig[p.line_start - 1][p.col_start - 1 :].startswith(first)
        assert p.line_end - p.line_start == p.text.count("\n")
        # columns: a passage that does not hold its lines whole names them, and they hold its text
        # exactly; one that names none holds its lines whole (blanks at either end aside)
        if p.col_end is not None:
            c = p.citation
            assert (c.col_start, c.col_end) == (p.col_start, p.col_end)
            assert str(c).startswith(f"doc.txt:{p.line_start}:{p.col_start}-")
            last = len(cited) - len(orig[p.line_end - 1])  # offset of the last line in ``cited``
            assert cited[p.col_start - 1 : last + p.col_end] == p.text
        else:
            assert p.citation.col_start is None and str(p.citation).count(":") == 1
            assert cited.strip() == p.text.strip()
        # (b) exact text at its offsets
        assert text[p.char_start : p.char_end] == p.text
        assert p.source == "doc.txt"
        if max_tokens is not None:
            assert len(token_ends(p.text)) <= max_tokens
        # the passage lies inside the paragraph it names
        lo, hi = doc.paras[p.paragraph - 1]
        assert lo <= p.line_start and p.line_end <= hi

    # duplicates per the rule: a paragraph whose collapsed text equals an earlier paragraph's
    keys = [collapse("\n".join(doc.lines[a - 1 : b])) for a, b in doc.paras]
    dup = [k in keys[:i] for i, k in enumerate(keys)]

    # (c) no text is lost: every non-blank line is cited, or lies in a duplicate paragraph
    cited_lines = set()
    for p in ps:
        cited_lines.update(range(p.line_start, p.line_end + 1))
    para_of_line = {ln: i for i, (a, b) in enumerate(doc.paras) for ln in range(a, b + 1)}
    for ln, line in enumerate(orig, start=1):
        if not line.strip():
            assert ln not in para_of_line
            continue
        i = para_of_line[ln]
        assert ln in cited_lines or dup[i], f"line {ln} {line!r} is in no passage"
        if dup[i]:
            assert ln not in cited_lines

    # (d) every word of every non-duplicate paragraph appears in its passages, in order;
    # paragraph numbers are the ground-truth ones, duplicates included in the numbering
    assert sorted({p.paragraph for p in ps}) == [i + 1 for i in range(len(keys)) if not dup[i]]
    for i, (a, b) in enumerate(doc.paras):
        if dup[i]:
            continue
        want = "\n".join(doc.lines[a - 1 : b]).split()
        got = [w for p in ps if p.paragraph == i + 1 for w in p.text.split()]
        assert got == want
    # passages are in file order and do not overlap
    for x, y in zip(ps, ps[1:]):
        assert x.char_end <= y.char_start


@pytest.mark.slow
@given(doc=documents(), max_tokens=st.one_of(st.none(), st.integers(1, 12)))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_passages_cite_their_lines(workdir, doc, max_tokens):
    check_document(workdir, doc, max_tokens)


@pytest.mark.slow
@given(doc=documents())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_passages_cite_their_lines_with_small_window(workdir, doc):
    check_document(workdir, doc, 3)


@st.composite
def long_line_documents(draw) -> Doc:
    """A few paragraphs, some of them one very long line (many sentences), others ordinary."""
    lines: list[str] = []
    ranges: list[tuple[int, int]] = []
    for i in range(draw(st.integers(1, 4))):
        if i:
            lines.append(draw(blank_line))
        start = len(lines) + 1
        if draw(st.booleans()):
            sentences = draw(st.lists(st.lists(words, min_size=1, max_size=9), min_size=3, max_size=40))
            lines.append(draw(pad) + " ".join(" ".join(ws).capitalize() + "." for ws in sentences) + draw(pad))
        else:
            lines += draw(paragraph_st)
        ranges.append((start, len(lines)))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    return Doc((eol.join(lines) + eol).encode("utf-8"), lines, ranges)


@pytest.mark.slow
@given(doc=long_line_documents(), max_tokens=st.integers(1, 30))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_pieces_of_long_lines_cite_their_columns(workdir, doc, max_tokens):
    check_document(workdir, doc, max_tokens)


def test_a_piece_of_a_long_line_cites_columns(workdir):
    """Sentences of one line, cut into pieces of 3 words: each piece names its columns."""
    line = "Alpha beta gamma. Delta epsilon zeta. Eta theta iota."
    doc = Doc(f"Title here\n{line}\n".encode(), ["Title here", line, ""], [(1, 2)])
    path = workdir / "doc.txt"
    path.write_bytes(doc.data)
    ps = passages_of("doc.txt", read_seed(SeedFile("doc.txt", path)).text, token_ends=token_ends, max_tokens=3)
    # "Title here\nAlpha beta gamma." is one sentence of 5 words: cut at a space, across the lines
    assert [str(p.citation) for p in ps] == [
        "doc.txt:1:1-2:5", "doc.txt:2:7-17", "doc.txt:2:19-37", "doc.txt:2:39-53"
    ]
    assert [line[p.col_start - 1 : p.col_end] for p in ps[1:]] == [p.text for p in ps[1:]]
    check_document(workdir, doc, 3)


def test_check_document_catches_a_wrong_column(workdir, monkeypatch):
    """The property checker fails when a column is off by one."""
    line = "Alpha beta gamma. Delta epsilon zeta. Eta theta iota."
    doc = Doc(f"{line}\n".encode(), [line, ""], [(1, 1)])
    check_document(workdir, doc, 3)
    real = passages_of

    def shifted(*a, **kw):
        from dataclasses import replace

        return [replace(p, col_end=p.col_end + 1) if p.col_end else p for p in real(*a, **kw)]

    monkeypatch.setattr(sys.modules[__name__], "passages_of", shifted)
    with pytest.raises(AssertionError):
        check_document(workdir, doc, 3)


def test_check_document_catches_a_wrong_citation(workdir, monkeypatch):
    """The property checker itself fails when a citation is off by one line."""
    import rag.documents.chunking as chunking

    doc = Doc(b"\nfirst words here\n\nsecond words\n", ["", "first words here", "", "second words", ""], [(2, 2), (4, 4)])
    check_document(workdir, doc, None)  # correct code passes

    real = chunking.passages_of

    def shifted(*a, **kw):
        from dataclasses import replace

        return [replace(p, line_start=p.line_start + 1, line_end=p.line_end + 1) for p in real(*a, **kw)]

    monkeypatch.setattr(sys.modules[__name__], "passages_of", shifted)
    with pytest.raises(AssertionError):
        check_document(workdir, doc, None)


def test_token_ends_of_a_long_text_equal_one_encoding():
    """The model's word-pieces of a long text, found chunk by chunk, are those of one encoding."""
    from rag.embedding.model import default_model_dir, word_pieces

    wp = word_pieces(str(default_model_dir()))
    text = " ".join(f"Word{i % 97} naïve 日本語, x{'y' * (i % 150)}." for i in range(3000)) + "\t tail\u00a0end"
    whole = [end for _, end in wp._tok.encode(text, add_special_tokens=False).offsets]
    assert len(text) > 10 * 4096
    assert wp.token_ends(text) == whole


# ----------------------------------------------------------------------------- Markdown, with sections

plain_words = st.one_of(
    st.sampled_from(["%s", "{}", "[bold]", "🙂", "日本語", "naïve", "Жук", "Dr.", "e.g.", "end.", "Why?"]),
    st.from_regex(r"[A-Za-z]{1,7}[.?!]?", fullmatch=True),
)
title_st = st.lists(st.from_regex(r"[A-Za-z]{1,7}", fullmatch=True), min_size=1, max_size=4).map(" ".join)


MARKUP = [
    ("{}", lambda w: w),
    ("**{}**", lambda w: w),
    ("_{}_", lambda w: w),
    ("`{}`", lambda w: w),
    ("~~{}~~", lambda w: w),
    ("[{}](http://example.org/a_b*c)", lambda w: w),
    ("![{}](img/x_1.png \"t\")", lambda w: w),
]


@st.composite
def md_line(draw) -> tuple[str, list[str]]:
    """A line of prose with inline markup, and the words it reads once the markup is out."""
    raw, clean = [], []
    for w in draw(st.lists(plain_words, min_size=1, max_size=8)):
        form, _ = MARKUP[0]
        if w.isalpha() and w.isascii():
            form, _ = draw(st.sampled_from(MARKUP))
        raw.append(form.format(w))
        clean.append(w)
    return draw(st.sampled_from(["", "", " ", "  "])) + " ".join(raw), clean


@dataclass
class MdDoc:
    data: bytes
    # ground truth: 1-based line range, section path, and the words its passages read (None: a
    # heading, which is no passage)
    elements: list[tuple[int, int, str | None, list[str] | None]]
    title: str | None = None


@st.composite
def markdown_documents(draw) -> MdDoc:
    lines: list[str] = []
    elements: list[tuple[int, int, str | None, list[str] | None]] = []
    stack: list[tuple[int, str]] = []
    title = first_h1 = None
    prev_bullet = None  # the bullet of a list just before: a list right after it takes another

    def heading(level: int, title: str) -> str | None:
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        return " > ".join(t for _, t in stack)

    if draw(st.booleans()):
        title = draw(title_st)
        lines += ["---", "title: " + title, "---", ""]
    for _ in range(draw(st.integers(1, 9))):
        kind = draw(st.sampled_from(["atx", "setext", "para", "para", "fence", "list"]))
        start = len(lines) + 1
        words: list[str] | None = None
        if kind == "atx":
            level, name = draw(st.integers(1, 4)), draw(title_st)
            closing = draw(st.sampled_from(["", " #", " ##"]))
            lines.append("#" * level + " " + name + closing)
            section = heading(level, name)
        elif kind == "setext":
            level, name = draw(st.integers(1, 2)), draw(title_st)
            lines += [name, ("=" if level == 1 else "-") * draw(st.integers(3, 8))]
            section = heading(level, name)
        elif kind == "para":
            got = draw(st.lists(md_line(), min_size=1, max_size=4))
            first = got[0][0].lstrip() if prev_bullet else got[0][0]  # indented, it would join the list
            lines += [first] + [raw for raw, _ in got[1:]]
            words = [w for _, ws in got for w in ws]
            section = " > ".join(t for _, t in stack) or None
        elif kind == "list":
            got = draw(st.lists(md_line(), min_size=1, max_size=5))
            bullet = draw(st.sampled_from([b for b in "-*+" if b != prev_bullet]))
            lines += [bullet + " " + raw.lstrip() for raw, _ in got]
            words = [w for _, ws in got for w in ws]
            section = " > ".join(t for _, t in stack) or None
        else:
            body_line = st.one_of(md_line().map(lambda x: x[0]), st.just(""), title_st.map(lambda t: "# " + t))
            body = draw(st.lists(body_line, min_size=1, max_size=5))
            if not any(b.strip() for b in body):
                body.append("code")
            lines += ["```", *body, "```"]
            words = " ".join(body).split()  # code is kept as written, markup and all
            section = " > ".join(t for _, t in stack) or None
        if kind in ("atx", "setext"):
            if section and first_h1 is None and len(stack) == 1 and stack[0][0] == 1:
                first_h1 = stack[0][1]
        elements.append((start, len(lines), section, words))
        prev_bullet = bullet if kind == "list" else None
        lines += draw(st.lists(blank_line, min_size=1, max_size=2))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    return MdDoc(eol.join(lines).encode("utf-8"), elements, title or first_h1)


def is_subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(ch in it for ch in short)


def check_markdown(workdir, doc: MdDoc, max_tokens: int | None) -> None:
    from rag.documents.chunking import chunk
    from rag.documents.readers import reader_for

    path = workdir / "doc.md"
    path.write_bytes(doc.data)
    r = read_seed(SeedFile("doc.md", path))
    assert r.skip is None, r.skip
    ps = chunk(r.document, token_ends=token_ends if max_tokens else None, max_tokens=max_tokens)
    back = reader_for(path).read(path, source="doc.md")  # what the source view reads
    raw_lines = doc.data.decode("utf-8").replace("\r\n", "\n").split("\n")
    assert len(back.lines()) == len(raw_lines)  # the reader's text keeps the file's lines one for one
    element_of = {ln: e for e in doc.elements for ln in range(e[0], e[1] + 1)}
    for p in ps:
        lines = back.lines(page=p.page)
        assert p.page is None and 1 <= p.line_start <= p.line_end <= len(lines)
        cited = "\n".join(lines[p.line_start - 1 : p.line_end])
        if p.col_end is None:
            assert cited.strip() == p.text.strip()
        else:
            last = len(cited) - len(lines[p.line_end - 1])
            assert cited[p.col_start - 1 : last + p.col_end] == p.text
        assert back.text[p.char_start : p.char_end] == p.text
        # the cited lines are the file's own lines, with only markup taken out
        for n in range(p.line_start, p.line_end + 1):
            assert is_subsequence(lines[n - 1], raw_lines[n - 1])
        # the section is the heading path the passage lies under; the title is the document's
        start, end, section, words = element_of[p.line_start]
        assert words is not None  # a heading is no passage
        assert p.line_end <= end and p.section == section and p.title == doc.title
        assert p.citation.section == section and str(p.citation).startswith(f"doc.md:{p.line_start}")
    # no text lost and no markup left: every element's words are its passages', unless the same
    # text came earlier in its section
    seen = set()
    for start, end, section, words in doc.elements:
        got = [w for p in ps if start <= p.line_start <= end for w in p.text.split()]
        if words is None:
            assert got == []
            continue
        key = (section, " ".join(words))
        if key in seen:
            assert got == []
        else:
            assert got == words
        seen.add(key)


@pytest.mark.slow
@given(doc=markdown_documents(), max_tokens=st.one_of(st.none(), st.integers(1, 12)))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_markdown_passages_cite_their_lines_and_sections(workdir, doc, max_tokens):
    check_markdown(workdir, doc, max_tokens)


def test_check_markdown_catches_a_wrong_section(workdir, monkeypatch):
    """The Markdown checker fails when a passage carries another section."""
    import rag.documents.chunking as chunking

    data = b"# A\n\nalpha words\n\n## B\n\nbeta words\n"
    doc = MdDoc(data, [(1, 1, "A", None), (3, 3, "A", ["alpha", "words"]), (5, 5, "A > B", None),
                       (7, 7, "A > B", ["beta", "words"])], "A")
    check_markdown(workdir, doc, None)
    real = chunking.chunk

    def wrong(*a, **kw):
        from dataclasses import replace

        return [replace(p, section="A") for p in real(*a, **kw)]

    monkeypatch.setattr(chunking, "chunk", wrong)
    with pytest.raises(AssertionError):
        check_markdown(workdir, doc, None)
