"""Sentence boundaries: abbreviations, initials, decimals, quotes, and the offset invariants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.documents.sentences import sentence_spans, split_sentences


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Dr. Smith arrived. He sat down.", ["Dr. Smith arrived.", "He sat down."]),
        ("Mr. and Mrs. Jones left. Prof. Lee stayed.", ["Mr. and Mrs. Jones left.", "Prof. Lee stayed."]),
        ("Use a tool, e.g. The Hammer. Then rest.", ["Use a tool, e.g. The Hammer.", "Then rest."]),
        ("Bring fruit, i.e. Apples and pears. Done.", ["Bring fruit, i.e. Apples and pears.", "Done."]),
        ("The U.S. Army marched. It rained.", ["The U.S. Army marched.", "It rained."]),
        ("As Smith et al. (2020) showed, it works. Next point.", ["As Smith et al. (2020) showed, it works.", "Next point."]),
        ("See Fig. 3 for details. Then Fig. 4.", ["See Fig. 3 for details.", "Then Fig. 4."]),
        ("J. R. R. Tolkien wrote books. They sold.", ["J. R. R. Tolkien wrote books.", "They sold."]),
        ("Written by J.R.R. Tolkien himself. Yes.", ["Written by J.R.R. Tolkien himself.", "Yes."]),
        ("It costs 3.5 dollars. That is cheap.", ["It costs 3.5 dollars.", "That is cheap."]),
        ("Pi is 3.14159 roughly. Version 2.0.1 is out.", ["Pi is 3.14159 roughly.", "Version 2.0.1 is out."]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("She wrote \u201cDone.\u201d Nobody answered.", ["She wrote \u201cDone.\u201d", "Nobody answered."]),
        ("(It was late.) We slept.", ["(It was late.)", "We slept."]),
        ("Is it? Yes! Really.", ["Is it?", "Yes!", "Really."]),
        ("What?! No way.", ["What?!", "No way."]),
        ("Wait... What happened?", ["Wait...", "What happened?"]),
        ("Wait\u2026 What happened?", ["Wait\u2026", "What happened?"]),
        ("No final punctuation here", ["No final punctuation here"]),
        ("First one. second is lowercase so it continues.", ["First one. second is lowercase so it continues."]),
        ("Ends here. 42 starts the next.", ["Ends here.", "42 starts the next."]),
        ("Done. \u00c9mile starts next.", ["Done.", "\u00c9mile starts next."]),
        ("  Leading and trailing spaces.  Second.  ", ["Leading and trailing spaces.", "Second."]),
        ("Line one.\nLine two.\n\tLine three", ["Line one.", "Line two.", "Line three"]),
        ("Roman numeral I. Then more.", ["Roman numeral I.", "Then more."]),
        ("One sentence.", ["One sentence."]),
        ("x", ["x"]),
    ],
)
def test_split_sentences_examples(text, expected):
    assert split_sentences(text) == expected
    check_invariants(text)


@pytest.mark.parametrize("text", ["", " ", "\n\t  \n", "\u00a0\u2003"])
def test_whitespace_only_has_no_sentences(text):
    assert sentence_spans(text) == []
    assert split_sentences(text) == []


def test_spans_are_offsets_into_the_text():
    text = "  Dr. No met Q. Then 007 left.\nThe end"
    spans = sentence_spans(text)
    assert spans == [(2, 30), (31, 38)]
    assert [text[a:b] for a, b in spans] == ["Dr. No met Q. Then 007 left.", "The end"]


def check_invariants(text: str) -> None:
    spans = sentence_spans(text)
    sents = split_sentences(text)
    assert len(spans) == len(sents)
    prev_end = 0
    for (a, b), s in zip(spans, sents):
        assert prev_end <= a < b <= len(text), "spans in order, non-empty, non-overlapping"
        assert text[a:b] == s
        assert not s[0].isspace() and not s[-1].isspace()
        assert text[prev_end:a].strip() == "", "only whitespace between sentences"
        prev_end = b
    assert text[prev_end:].strip() == "", "only whitespace after the last sentence"
    # nothing lost: the sentences hold every non-space character of the text
    assert "".join("".join(s.split()) for s in sents) == "".join(text.split())


ALPHABET = st.sampled_from(
    list("abcXYZ019 .  .!?\u2026\"'\u201c\u201d()[]\u00ab\u00bb\n\t,;éÉЖ")
    + ["Dr.", "e.g.", "U.S.", "et al.", "J.", "3.5", "... ", "\u00a0", "🙂", "\r"]
)


@given(st.lists(ALPHABET, max_size=80).map("".join))
@settings(max_examples=200, deadline=None)
def test_span_invariants_on_random_text(text):
    check_invariants(text)


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_span_invariants_on_arbitrary_unicode(text):
    check_invariants(text)


@given(st.lists(st.sampled_from(["One", "two", "Dr.", "3.5", "end.", "Why?", "Yes!", '"Hi."', "I."]), max_size=30))
@settings(max_examples=200, deadline=None)
def test_join_of_sentences_recovers_words(words):
    text = " ".join(words)
    sents = split_sentences(text)
    assert " ".join(sents).split() == words
