"""Ingest: walking the seeds folder, decoding, paragraphs, line numbers and long-paragraph splitting."""

from __future__ import annotations

import codecs
import os
import re
import sys
from pathlib import Path

import pytest

import rag
from rag.errors import SeedsError
from rag.documents.chunking import paragraphs, passages_of, text_hash
from rag.documents.readers import extensions
from rag.documents.decoding import SkipFile, decode, normalize_newlines
from rag.documents.files import SeedFile, iter_seed_files
from rag.documents.ingest import read_seed

WORD = re.compile(r"\S+")


def token_ends(text: str) -> list[int]:
    """One token per whitespace-separated word: the end offset of each."""
    return [m.end() for m in WORD.finditer(text)]


def seed(tmp_path: Path, data: bytes, name: str = "doc.txt") -> SeedFile:
    p = tmp_path / name
    p.write_bytes(data)
    return SeedFile(name, p)


def read_text(tmp_path: Path, data: bytes, name: str = "doc.txt") -> str:
    r = read_seed(seed(tmp_path, data, name))
    assert r.skip is None, r.skip
    assert r.text is not None
    return r.text


def summary(paras):
    return [(p.number, p.line_start, p.line_end, p.text) for p in paras]


def check_paragraph_offsets(text: str, paras) -> None:
    lines = text.split("\n")
    for p in paras:
        assert text[p.char_start : p.char_end] == p.text
        assert p.line_start <= p.line_end
        assert "\n".join(lines[p.line_start - 1 : p.line_end]) == p.text


# --------------------------------------------------------------------------------------------
# paragraphs and line numbers


def test_paragraphs_numbered_with_inclusive_one_based_lines():
    text = "Alpha one\nalpha two\n\nBeta\n\n\nGamma one\ngamma two\ngamma three"
    paras = paragraphs(text)
    assert summary(paras) == [
        (1, 1, 2, "Alpha one\nalpha two"),
        (2, 4, 4, "Beta"),
        (3, 7, 9, "Gamma one\ngamma two\ngamma three"),
    ]
    check_paragraph_offsets(text, paras)


def test_leading_blank_lines_shift_line_numbers():
    text = "\n\n   \n\t\nFirst line\n\nSecond"
    paras = paragraphs(text)
    assert summary(paras) == [(1, 5, 5, "First line"), (2, 7, 7, "Second")]
    check_paragraph_offsets(text, paras)


def test_trailing_whitespace_only_lines_are_not_part_of_the_paragraph():
    text = "Only paragraph\nsecond line\n   \n\t\n \t \n"
    paras = paragraphs(text)
    assert summary(paras) == [(1, 1, 2, "Only paragraph\nsecond line")]
    check_paragraph_offsets(text, paras)


def test_whitespace_only_line_separates_paragraphs():
    text = "one\n \t \ntwo"
    assert summary(paragraphs(text)) == [(1, 1, 1, "one"), (2, 3, 3, "two")]


def test_tabs_kept_and_tab_only_line_is_blank():
    text = "\tindented start\n\tsecond\n\t\n\tnext\tparagraph"
    paras = paragraphs(text)
    assert summary(paras) == [(1, 1, 2, "\tindented start\n\tsecond"), (2, 4, 4, "\tnext\tparagraph")]
    check_paragraph_offsets(text, paras)


def test_no_final_newline_last_line_counted():
    text = "a\n\nb\nc"
    assert summary(paragraphs(text)) == [(1, 1, 1, "a"), (2, 3, 4, "b\nc")]


def test_empty_and_blank_text_have_no_paragraphs():
    assert paragraphs("") == []
    assert paragraphs("\n \n\t\n") == []


def test_crlf_file_line_numbers(tmp_path):
    text = read_text(tmp_path, b"Title\r\n\r\nFirst line\r\nsecond line\r\n\r\n\r\nLast\r\n")
    assert "\r" not in text
    paras = paragraphs(text)
    assert summary(paras) == [(1, 1, 1, "Title"), (2, 3, 4, "First line\nsecond line"), (3, 7, 7, "Last")]
    check_paragraph_offsets(text, paras)


def test_lone_cr_file_line_numbers(tmp_path):
    text = read_text(tmp_path, b"Title\r\rFirst line\rsecond line\r\r\rLast")
    assert "\r" not in text
    assert summary(paragraphs(text)) == [
        (1, 1, 1, "Title"),
        (2, 3, 4, "First line\nsecond line"),
        (3, 7, 7, "Last"),
    ]


def test_mixed_line_endings(tmp_path):
    text = read_text(tmp_path, b"a\r\nb\n\rc\r\n\r\nd")
    # a | b | (blank) | c | (blank) | d
    assert text == "a\nb\n\nc\n\nd"
    assert summary(paragraphs(text)) == [(1, 1, 2, "a\nb"), (2, 4, 4, "c"), (3, 6, 6, "d")]


def test_normalize_newlines():
    assert normalize_newlines("a\r\nb\rc\nd\r\r\n") == "a\nb\nc\nd\n\n"


# --------------------------------------------------------------------------------------------
# passages_of: whole paragraphs and the duplicate rule


def test_passages_of_whole_paragraphs():
    text = "\nFirst para\nstill first\n\n\tSecond para\n"
    ps = passages_of("dir/doc.txt", text)
    assert [(p.text, p.line_start, p.line_end, p.paragraph, p.col_start) for p in ps] == [
        ("First para\nstill first", 2, 3, 1, 1),
        ("\tSecond para", 5, 5, 2, 1),
    ]
    for p in ps:
        assert p.source == "dir/doc.txt"
        assert text[p.char_start : p.char_end] == p.text
        assert p.hash == text_hash(p.text)
        assert str(p.citation) == (
            f"dir/doc.txt:{p.line_start}" if p.line_start == p.line_end else f"dir/doc.txt:{p.line_start}-{p.line_end}"
        )


def test_duplicate_paragraph_cites_first_place_and_keeps_numbering():
    text = "Repeated text here.\n\nOther one.\n\nRepeated text here.\n\nFinal words.\n"
    ps = passages_of("d.txt", text)
    assert [(p.text, p.line_start, p.line_end, p.paragraph) for p in ps] == [
        ("Repeated text here.", 1, 1, 1),
        ("Other one.", 3, 3, 2),
        ("Final words.", 7, 7, 4),  # paragraph 3 was the duplicate; numbering is unaffected
    ]


def test_duplicate_paragraph_with_different_whitespace_is_dropped():
    text = "The same  words\nagain.\n\nmiddle\n\nThe same words again.\n\nend"
    ps = passages_of("d.txt", text)
    assert [(p.text, p.paragraph, p.line_start) for p in ps] == [
        ("The same  words\nagain.", 1, 1),
        ("middle", 2, 4),
        ("end", 4, 8),
    ]


def test_duplicate_rule_with_splitting_keeps_only_first_copy():
    long_para = " ".join(f"w{i}" for i in range(30))
    text = f"{long_para}\n\nshort\n\n{long_para}\n"
    ps = passages_of("d.txt", text, token_ends=token_ends, max_tokens=8)
    assert {p.paragraph for p in ps} == {1, 2}
    assert all(p.line_start == 1 for p in ps if p.paragraph == 1)
    assert [p.text for p in ps if p.paragraph == 2] == ["short"]


def test_format_strings_and_markup_survive_verbatim():
    weird = ["Rate is 50%s and %d items {} {0} %(name)s", "[bold]not markup[/bold] [red]x[/]", "{{braces}} $HOME \\n"]
    text = "\n\n".join(weird)
    ps = passages_of("w.md", text)
    assert [p.text for p in ps] == weird
    ps = passages_of("w.md", text, token_ends=token_ends, max_tokens=3)
    assert [w for p in ps for w in p.text.split()] == text.split()


# --------------------------------------------------------------------------------------------
# splitting long paragraphs


def check_split(text: str, ps, max_tokens: int) -> None:
    """Every invariant of split passages, against the whole (normalized) document text."""
    for p in ps:
        # exact substring at its offsets
        assert text[p.char_start : p.char_end] == p.text
        assert p.text == p.text.strip(), "a piece should not start or end with whitespace"
        # within the token budget
        assert 0 < len(token_ends(p.text)) <= max_tokens
        # its own lines and column
        assert p.line_start == text.count("\n", 0, p.char_start) + 1
        assert p.line_end == text.count("\n", 0, p.char_end) + 1
        assert p.col_start == p.char_start - (text.rfind("\n", 0, p.char_start) + 1) + 1
        assert p.hash == text_hash(p.text)
    # pieces are in document order and do not overlap
    for a, b in zip(ps, ps[1:]):
        assert a.char_end <= b.char_start


def check_covers(paragraph_text: str, ps) -> None:
    """The pieces hold every word of the paragraph, in order."""
    assert [w for p in ps for w in p.text.split()] == paragraph_text.split()


def test_split_prefers_sentence_boundaries():
    text = "One two three. Four five six. Seven eight nine ten."
    ps = passages_of("s.txt", text, token_ends=token_ends, max_tokens=8)
    assert [p.text for p in ps] == ["One two three. Four five six.", "Seven eight nine ten."]
    assert [p.paragraph for p in ps] == [1, 1]
    assert [p.col_start for p in ps] == [1, 31]
    check_split(text, ps, 8)


def test_short_paragraph_not_split():
    text = "One two three. Four five six. Seven eight."
    ps = passages_of("s.txt", text, token_ends=token_ends, max_tokens=8)
    assert [p.text for p in ps] == [text]


def test_no_split_without_max_tokens():
    text = " ".join(f"w{i}" for i in range(50))
    assert [p.text for p in passages_of("s.txt", text, token_ends=token_ends)] == [text]
    assert [p.text for p in passages_of("s.txt", text, max_tokens=8)] == [text]


def test_overlong_sentence_without_punctuation_split_at_spaces():
    words = [f"word{i}" for i in range(20)]
    text = " ".join(words)
    ps = passages_of("s.txt", text, token_ends=token_ends, max_tokens=8)
    assert [p.text for p in ps] == [" ".join(words[0:8]), " ".join(words[8:16]), " ".join(words[16:20])]
    check_split(text, ps, 8)
    check_covers(text, ps)


def test_split_pieces_cite_their_own_lines():
    lines = [
        "\n",
        "Intro paragraph.\n",
        "\n",
        "The first sentence has six words. The second one\n",
        "crosses a line and is rather long indeed, surely. A third\n",
        "\tone has a tab. And then a line\n",
        "without any punctuation at all that runs on and on and on for a while\n",
        "Last.\n",
        "\n",
        "Tail paragraph.\n",
    ]
    text = "".join(lines)
    ps = passages_of("l.txt", text, token_ends=token_ends, max_tokens=8)
    check_split(text, ps, 8)
    long_para = paragraphs(text)[1]
    pieces = [p for p in ps if p.paragraph == 2]
    assert len(pieces) > 3
    check_covers(long_para.text, pieces)
    assert pieces[0].line_start == 4 and pieces[-1].line_end == 8
    assert [p.paragraph for p in ps] == [1] + [2] * len(pieces) + [3]
    assert ps[-1].line_start == 10


def test_split_every_line_of_paragraph_is_cited():
    text = "\n".join(f"line{i} alpha beta gamma delta." for i in range(1, 13))
    ps = passages_of("l.txt", text, token_ends=token_ends, max_tokens=8)
    check_split(text, ps, 8)
    check_covers(text, ps)
    cited = set()
    for p in ps:
        cited.update(range(p.line_start, p.line_end + 1))
    assert cited == set(range(1, 13))


@pytest.mark.parametrize("max_tokens", [1, 2, 3, 5, 8, 13])
def test_split_invariants_for_various_limits(max_tokens):
    text = (
        "Dr. Smith met J. R. R. Tolkien at 3.5 p.m. today. Did he? \"Yes!\" he said... and left\n"
        "the\tbuilding without saying goodbye to anyone in the room at all e.g. the cook\n"
        "verylongwordwithoutanyspaces_at_all_because_why_not and a final sentence here."
    )
    ps = passages_of("v.txt", text, token_ends=token_ends, max_tokens=max_tokens)
    check_split(text, ps, max_tokens)
    check_covers(text, ps)


def test_split_with_subword_tokens():
    """Token ends every 3 characters inside words (like word-pieces): still within budget, nothing lost."""

    def pieces_ends(s: str) -> list[int]:
        out = []
        for m in WORD.finditer(s):
            out.extend(range(min(m.start() + 3, m.end()), m.end(), 3))
            out.append(m.end())
        return sorted(set(out))

    text = "Internationalization considerations. Supercalifragilistic expialidocious words everywhere here"
    ends = pieces_ends(text)
    ps = passages_of("v.txt", text, token_ends=pieces_ends, max_tokens=6)
    assert len(ps) >= 5
    for p in ps:
        assert text[p.char_start : p.char_end] == p.text
        assert 0 < sum(1 for e in ends if p.char_start < e <= p.char_end) <= 6
    for a, b in zip(ps, ps[1:]):
        assert a.char_end <= b.char_start and not text[a.char_end : b.char_start].strip()
    # a word longer than the window is cut between word-pieces, but no character is lost
    assert ps[0].char_start == 0 and ps[-1].char_end == len(text)
    assert "".join(p.text for p in ps).replace(" ", "") == text.replace(" ", "")


class _TooMuchWork(Exception):
    pass


RAG_DIR = str(Path(rag.__file__).parent)


def lines_run(fn, budget: int | None = None) -> int:
    """How many lines of rag's own code ``fn()`` executes: a count of work that does not depend on
    the machine or its load (no clocks). Raises _TooMuchWork once ``budget`` lines are passed.

    It sees Python-level work only: a C call (``str.count``, a regex) is one line however long its
    input, so a quadratic C-level scan needs its own test."""
    n = 0

    def local(frame, event, arg):
        nonlocal n
        if event == "line":
            n += 1
            if budget is not None and n > budget:
                raise _TooMuchWork(f"more than {budget} lines of rag code ran")
        return local

    def outer(frame, event, arg):
        return local if frame.f_code.co_filename.startswith(RAG_DIR) else None

    old = sys.gettrace()
    sys.settrace(outer)
    try:
        fn()
    finally:
        sys.settrace(old)
    return n


def _split_work(unit: str, size: int) -> int:
    text = (unit * (size // len(unit) + 1))[:size].strip()
    return lines_run(lambda: passages_of("big.txt", text, token_ends=token_ends, max_tokens=8))


def test_lines_run_counts_work_that_grows_with_the_input():
    """The counter itself: quadratic work in rag code shows as 4x the lines for 2x the input."""

    def quadratic(n):  # n splits of texts of up to n words: work grows as n squared
        return lambda: [passages_of("q.txt", "word " * i, token_ends=token_ends, max_tokens=2) for i in range(n)]

    small, big = lines_run(quadratic(40)), lines_run(quadratic(80))
    assert small > 0 and 3.5 < big / small < 4.5
    with pytest.raises(_TooMuchWork):
        lines_run(quadratic(80), budget=small)


@pytest.mark.parametrize("unit", ["lorem ipsum dolor sit amet consectetur ", "The cat sat on the mat. Dr. Who came home late. "])
def test_long_paragraph_splitting_is_linear(unit):
    """Splitting a paragraph without punctuation, or of many short sentences, into 8-token pieces:
    twice the text costs twice the work (about 2.0 measured; a quadratic splitter gives about 4)."""
    small, big = _split_work(unit, 25_000), _split_work(unit, 50_000)
    assert small > 1000
    assert big / small < 2.5, (small, big)


def test_200k_paragraph_without_punctuation_splits_into_whole_words():
    text = ("lorem ipsum dolor sit amet consectetur " * 6000)[:200_000].strip()
    ps = passages_of("big.txt", text, token_ends=token_ends, max_tokens=8)
    assert all(len(token_ends(p.text)) <= 8 for p in ps)
    assert sum(len(p.text.split()) for p in ps) == len(text.split())
    assert ps[0].char_start == 0 and ps[-1].char_end == len(text)


def test_200k_paragraph_of_prose_splits_into_whole_words():
    text = ("The cat sat on the mat. Dr. Who came home late. " * 5000)[:200_000].strip()
    ps = passages_of("big.txt", text, token_ends=token_ends, max_tokens=8)
    assert all(len(token_ends(p.text)) <= 8 for p in ps)
    assert sum(len(p.text.split()) for p in ps) == len(text.split())


# --------------------------------------------------------------------------------------------
# decoding real files


def test_read_utf8(tmp_path):
    r = read_seed(seed(tmp_path, "Café naïve 日本 🙂\n".encode("utf-8")))
    assert (r.text, r.warning, r.skip) == ("Café naïve 日本 🙂\n", None, None)
    assert r.size == len("Café naïve 日本 🙂\n".encode("utf-8"))
    assert len(r.sha256) == 64


def test_read_utf8_with_bom(tmp_path):
    r = read_seed(seed(tmp_path, codecs.BOM_UTF8 + "Héllo\r\nworld".encode("utf-8")))
    assert r.skip is None and r.warning is None
    assert r.text == "Héllo\nworld"
    assert "\ufeff" not in r.text


@pytest.mark.parametrize("codec,bom", [("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE)])
def test_read_utf16_with_bom(tmp_path, codec, bom):
    r = read_seed(seed(tmp_path, bom + "Grüße 🙂\r\nzweite Zeile\r\n".encode(codec)))
    assert r.skip is None and r.warning is None
    assert r.text == "Grüße 🙂\nzweite Zeile\n"


def test_utf16_with_bom_but_truncated_is_skipped(tmp_path):
    r = read_seed(seed(tmp_path, codecs.BOM_UTF16_LE + "abc".encode("utf-16-le") + b"x"))
    assert r.text is None
    assert r.skip and "UTF-16" in r.skip


def test_invalid_utf8_falls_back_to_cp1252_with_warning(tmp_path):
    r = read_seed(seed(tmp_path, b"caf\xe9 \x93quoted\x94 \x80 5\n"))
    assert r.skip is None
    assert r.text == "café “quoted” € 5\n"
    assert r.warning and "cp1252" in r.warning.lower()


def test_decode_cp1252_directly():
    text, warning = decode(b"caf\xe9")
    assert text == "café"
    assert warning is not None
    assert decode("café".encode("utf-8")) == ("café", None)


def test_nul_bytes_skipped_as_binary(tmp_path):
    r = read_seed(seed(tmp_path, b"some text\x00\x01\x02 more"))
    assert r.text is None
    assert r.skip and "binary" in r.skip
    with pytest.raises(SkipFile, match="binary"):
        decode(b"\x89PNG\r\n\x1a\n\x00\x00\x00")


@pytest.mark.parametrize(
    "data",
    [b"", b"   ", b"\n\n\r\n\t \x0b\x0c", codecs.BOM_UTF8 + b" \n ", codecs.BOM_UTF16_LE + " \n".encode("utf-16-le")],
)
def test_empty_and_whitespace_only_skipped_as_empty(tmp_path, data):
    r = read_seed(seed(tmp_path, data))
    assert r.text is None
    assert r.skip and "empty" in r.skip


def test_file_over_size_limit_skipped(tmp_path):
    limit = 1024 * 1024
    r = read_seed(seed(tmp_path, b"a" * (limit + 1)), max_bytes=limit)
    assert r.text is None
    assert r.skip and "larger than the 1 MB limit" in r.skip
    assert r.size == limit + 1


def test_file_at_size_limit_is_read(tmp_path):
    r = read_seed(seed(tmp_path, b"ab\n" * 100), max_bytes=300)
    assert r.skip is None and r.text == "ab\n" * 100


def test_size_limit_reason_states_a_small_limit_correctly(tmp_path):
    r = read_seed(seed(tmp_path, b"a" * 101), max_bytes=100)
    assert r.text is None and r.skip
    assert " 0 MB" not in r.skip and "100 bytes" in r.skip


def test_file_vanished_between_listing_and_reading(tmp_path):
    root = tmp_path / "seeds"
    root.mkdir()
    (root / "gone.txt").write_text("soon gone", encoding="utf-8")
    files, skipped = iter_seed_files(root)
    assert [f.source for f in files] == ["gone.txt"] and skipped == []
    (root / "gone.txt").unlink()
    r = read_seed(files[0])
    assert r.text is None
    assert r.skip and "vanished" in r.skip


def test_read_seed_then_passages_keep_exact_text(tmp_path):
    data = "Intro.\r\n\r\n\tTabbed %s line\r\n[bold]x[/bold] {} %d\r\n".encode("utf-8")
    text = read_text(tmp_path, data)
    ps = passages_of("doc.txt", text)
    assert [(p.text, p.line_start, p.line_end) for p in ps] == [
        ("Intro.", 1, 1),
        ("\tTabbed %s line\n[bold]x[/bold] {} %d", 3, 4),
    ]


# --------------------------------------------------------------------------------------------
# walking the seeds folder


def make_tree(root: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content, encoding="utf-8")


def test_iter_seed_files_recursion_and_extensions(tmp_path):
    root = tmp_path / "seeds"
    make_tree(
        root,
        {
            "a.txt": "x",
            "b.md": "x",
            "C.TXT": "x",
            "d.Md": "x",
            "e.rst": "x",
            "f.txt.bak": "x",
            "g.pdf": "x",
            "noext": "x",
            "sub/deeper/h.txt": "x",
            "sub/i.markdown": "x",
            "sub/j.md": "x",
        },
    )
    files, skipped = iter_seed_files(root)
    assert [f.source for f in files] == sorted(["a.txt", "b.md", "C.TXT", "d.Md", "g.pdf", "sub/deeper/h.txt", "sub/j.md"])
    from rag.documents.readers import extensions

    readers = f"(readers: {', '.join(extensions())})"  # .txt, .md, then the other formats' readers
    assert readers.startswith("(readers: .txt, .md")
    assert sorted((s.source, s.reason) for s in skipped) == [
        ("e.rst", f"unsupported format .rst {readers}"),
        ("f.txt.bak", f"unsupported format .bak {readers}"),
        ("noext", f"unsupported format: no extension {readers}"),
        ("sub/i.markdown", f"unsupported format .markdown {readers}"),
    ]
    for f in files:
        assert f.path.is_absolute()
        assert f.path == (root / f.source).absolute()
        assert not f.source.startswith("/")
        assert "\\" not in f.source


def test_hidden_files_and_folders_ignored(tmp_path):
    root = tmp_path / "seeds"
    make_tree(
        root,
        {
            "visible.txt": "x",
            ".hidden.txt": "x",
            ".git/config.txt": "x",
            ".obsidian/notes/n.md": "x",
            "sub/.secret.md": "x",
            "sub/ok.md": "x",
            "sub/.cache/c.txt": "x",
        },
    )
    files, skipped = iter_seed_files(root)
    assert [f.source for f in files] == ["sub/ok.md", "visible.txt"]
    assert skipped == []


def test_hidden_root_itself_is_walked(tmp_path):
    root = tmp_path / ".seeds"
    make_tree(root, {"a.txt": "x"})
    files, _ = iter_seed_files(root)
    assert [f.source for f in files] == ["a.txt"]


def test_names_with_spaces_and_unicode(tmp_path):
    root = tmp_path / "seeds"
    make_tree(root, {"my notes/über café.txt": "x", "日本語/メモ 1.md": "x", "emoji 🙂.txt": "x"})
    files, skipped = iter_seed_files(root)
    assert sorted(f.source for f in files) == sorted(["my notes/über café.txt", "日本語/メモ 1.md", "emoji 🙂.txt"])
    assert skipped == []
    for f in files:
        assert read_seed(f).text == "x"


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_symlink_to_file_outside_root_is_skipped(tmp_path):
    root = tmp_path / "seeds"
    make_tree(root, {"inside.txt": "x"})
    outside = tmp_path / "outside.txt"
    outside.write_text("secret", encoding="utf-8")
    (root / "link.txt").symlink_to(outside)
    (root / "inner_link.txt").symlink_to(root / "inside.txt")
    files, skipped = iter_seed_files(root)
    assert [f.source for f in files] == ["inner_link.txt", "inside.txt"]
    assert len(skipped) == 1
    assert skipped[0].source == "link.txt"
    assert "outside" in skipped[0].reason


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_symlinked_folder_outside_root_is_not_walked(tmp_path):
    root = tmp_path / "seeds"
    make_tree(root, {"a.txt": "x"})
    make_tree(tmp_path / "elsewhere", {"b.txt": "x"})
    (root / "ext").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    files, _ = iter_seed_files(root)
    assert [f.source for f in files] == ["a.txt"]


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_symlink_loop_terminates_and_lists_each_file_once(tmp_path):
    root = tmp_path / "seeds"
    make_tree(root, {"top.txt": "x", "sub/a.txt": "x", "sub/deeper/b.md": "x"})
    os.symlink("..", root / "sub" / "up", target_is_directory=True)  # sub/up -> seeds
    os.symlink(".", root / "sub" / "deeper" / "self", target_is_directory=True)  # deeper/self -> deeper
    files, _ = iter_seed_files(root)
    sources = [f.source for f in files]
    assert sources == ["sub/a.txt", "sub/deeper/b.md", "top.txt"]
    assert len({f.path.resolve() for f in files}) == len(files)


def test_missing_folder_raises_seeds_error(tmp_path):
    with pytest.raises(SeedsError, match="not found"):
        iter_seed_files(tmp_path / "nope")


def test_file_instead_of_folder_raises_seeds_error(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x", encoding="utf-8")
    with pytest.raises(SeedsError):
        iter_seed_files(f)


def test_empty_folder_lists_nothing(tmp_path):
    root = tmp_path / "seeds"
    root.mkdir()
    assert iter_seed_files(root) == ([], [])


def test_zero_max_tokens_is_refused_at_once():
    """max_tokens=0 once looped for ever: now a ValueError within a small budget of work."""
    def call():
        with pytest.raises(ValueError, match="max_tokens"):
            passages_of("z.txt", "one two three", token_ends=token_ends, max_tokens=0)

    lines_run(call, budget=1000)
