"""The answer sentence's fast paths give exactly what the straightforward per-sentence code gave.

Each fast function is compared with a plain version (kept here) on generated texts: words split by
bytes for ASCII, a passage's sentences tokenized without re-lowering each, sentence vectors summed
row-wise in reduceat's order, sentence ends found by ``str.find``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.search.answer import lexical_scores
from rag.documents.tokens import STOPWORDS_EN, _stemmer, all_words, tokenize, tokenize_spans
from rag.embedding.model import default_model_dir
from rag.documents.sentences import ABBREVIATIONS, sentence_spans
from rag.embedding.static_vectors import StaticVectors, segment_sums
from rag.types import Passage

WORDS = (
    ["The", "cats", "running", "ran", "a", "I", "of", "İstanbul", "ΣΟΦΟΣ", "σοφός", "Straße", "naïve", "x" * 130,
     "foo_bar", "H2O", "3.5", "e.g.", "Dr.", "J.", "U.S.", "中文", "١٢٣", "é", "e\u0301", "ǅ", "ﬁ", "µm", "and"]
    + list(" \t\n\r\u00a0\u2003.,;:!?…\"'“”()[]«»-_/")
)
TEXT = st.lists(st.sampled_from(WORDS), max_size=60).map("".join) | st.text(max_size=120)


def reference_tokenize(text: str) -> list[str]:
    stem = _stemmer().stemWord
    return [stem(w) for w in re.findall(r"(?u)\b\w\w+\b", text.lower()) if w not in STOPWORDS_EN]


@given(TEXT)
@settings(max_examples=300, deadline=None)
def test_all_words_are_the_regex_words(text):
    got = [w.decode() if isinstance(w, bytes) else w for w in all_words(text)]
    assert got == re.findall(r"\w+", text.lower())


@given(TEXT)
@settings(max_examples=300, deadline=None)
def test_tokenize_is_the_plain_tokenizer(text):
    assert tokenize(text) == reference_tokenize(text)


@given(TEXT, st.lists(st.tuples(st.integers(-5, 130), st.integers(-5, 130)), max_size=6))
@settings(max_examples=300, deadline=None)
def test_tokenize_spans_is_tokenize_of_each_slice(text, spans):
    spans = spans + sentence_spans(text) + [(0, len(text))]
    assert tokenize_spans(text, spans) == [reference_tokenize(text[a:b]) for a, b in spans]


@given(TEXT, st.lists(st.sampled_from(["cat", "run", "ran", "istanbul", "σοφός", "x" * 130, "h2o", "straße"]), max_size=4))
@settings(max_examples=200, deadline=None)
def test_lexical_scores_are_the_per_sentence_scores(text, question):
    import math

    p = Passage(text=text, source="f.txt", line_start=1, line_end=1, paragraph=1, char_start=0, char_end=len(text),
                hash="h")
    idf = {"cat": 1.5, "run": 0.25, "istanbul": 3.0, "σοφός": 2.0, "x" * 130: 0.1, "h2o": 1.1, "straße": 0.7}
    spans = sentence_spans(text) or [(0, len(text))]
    want = []
    for a, b in spans:
        terms = reference_tokenize(text[a:b])
        weight = sum(idf.get(t, 0.0) for t in set(question).intersection(terms))
        want.append(weight / math.log(2.0 + len(terms)) if terms else 0.0)
    got = lexical_scores(question, p, spans, lambda t: idf.get(t, 0.0))
    assert got == want


# ------------------------------------------------------------------ sentence vectors
@st.composite
def segments(draw):
    lens = draw(st.lists(st.sampled_from([1, 2, 7, 8, 9, 15, 16, 17, 64, 128, 129, 130, 137, 300])
                         | st.integers(1, 60), min_size=1, max_size=40))
    rows = draw(st.integers(1, 50))
    seed = draw(st.integers(0, 2**32 - 1))
    return lens, rows, seed


@given(segments())
@settings(max_examples=200, deadline=None)
def test_segment_sums_are_reduceat_bit_for_bit(case):
    lens, rows, seed = case
    rng = np.random.default_rng(seed)
    table = (rng.standard_normal((rows, 24)) * 10.0 ** rng.integers(-3, 4, (rows, 1))).astype(np.float32)
    table[rng.random(table.shape) < 0.1] = 0.0
    table[rng.random(table.shape) < 0.1] = -0.0
    lens = np.asarray(lens)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    ids = rng.integers(0, rows, int(lens.sum()))
    want = np.add.reduceat(table[ids], starts, axis=0)
    assert segment_sums(table, ids, starts, lens).tobytes() == want.tobytes()


def reference_static_vectors(word: np.ndarray, tokenizer, texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), word.shape[1]), dtype=np.float32)
    ids, starts, rows = [], [], []
    for i, text in enumerate(texts):
        pieces = [p for w in re.findall(r"\w+", text.lower()) for p in tokenizer.encode(w, add_special_tokens=False).ids]
        if pieces:
            rows.append(i)
            starts.append(len(ids))
            ids.extend(pieces)
    if ids:
        sums = np.add.reduceat(word[np.asarray(ids)], np.asarray(starts), axis=0)
        out[rows] = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return out


@pytest.fixture(scope="module")
def small_static() -> StaticVectors:
    path = Path(default_model_dir()) / "tokenizer.json"
    if not path.is_file():
        pytest.skip("no model tokenizer")
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    rng = np.random.default_rng(0)
    table = rng.standard_normal((tok.get_vocab_size(), 8)).astype(np.float32)
    return StaticVectors(table, tok)


@given(st.lists(TEXT | st.sampled_from(["", "  ", "...", "word " * 150]), max_size=12))
@settings(max_examples=150, deadline=None)
def test_static_vectors_are_the_per_word_vectors(small_static, texts):
    want = reference_static_vectors(small_static.word, small_static.tokenizer, texts)
    assert small_static(texts).tobytes() == want.tobytes()


# ------------------------------------------------------------------ sentence ends
_OLD_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s|$)")
_OLD_NEXT_START = re.compile(r"\s+[\"'“‘«(\[]*[A-Z0-9\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF]")


def _old_is_abbreviation(text: str, dot: int) -> bool:
    start = dot
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start:dot].lstrip("\"'“‘«([").lower()
    if not word:
        return False
    if word in ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha() and word != "i":
        return True
    return re.fullmatch(r"(?:[a-z]\.)+[a-z]", word) is not None


def reference_sentence_spans(text: str) -> list[tuple[int, int]]:
    """The splitter as it was: a regex scan, each candidate end checked in turn."""
    spans: list[tuple[int, int]] = []
    n = len(text)
    start = 0
    while start < n and text[start].isspace():
        start += 1
    if start >= n:
        return spans
    for m in _OLD_END.finditer(text, start):
        end = m.end()
        if end <= start:
            continue
        if end < n:
            if _OLD_NEXT_START.match(text, end) is None:
                continue
            if text[m.start()] == "." and m.end() - m.start() == 1 and _old_is_abbreviation(text, m.start()):
                continue
        spans.append((start, end))
        start = end
        while start < n and text[start].isspace():
            start += 1
        if start >= n:
            break
    if start < n:
        end = n
        while end > start and text[end - 1].isspace():
            end -= 1
        spans.append((start, end))
    return spans


SENTENCE_PARTS = st.sampled_from(
    ["Dr.", "e.g.", "U.S.", "et al.", "J.", "I.", "q.", "A.b.C.", "3.5", "...", "?!", "…", "Hello", "world",
     "x" * 70, "y" * 70 + ".", "\u00a0", "🙂", "\r", "\n", " ", "  ", "\t", "\u2003", "(", ")", '"', "'", "”", "“",
     "»", "«", "[", "]", ".", "!", "?", "É", "Ж", "Σ", "1", "a", "B"]
)


@given(st.lists(SENTENCE_PARTS, max_size=40).map("".join) | st.text(max_size=200))
@settings(max_examples=500, deadline=None)
def test_sentence_spans_are_the_regex_scan(text):
    assert sentence_spans(text) == reference_sentence_spans(text)


PLAIN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=120)


@given(st.lists(PLAIN | TEXT, min_size=1, max_size=20))
@settings(max_examples=150, deadline=None)
def test_word_pieces_of_plain_words_skip_the_pipeline_exactly(small_static, words):
    from rag.embedding.static_vectors import _Pieces

    tok = small_static.tokenizer
    pieces = _Pieces(tok)
    assert pieces._plain_max > 0  # the bundled BERT tokenizer takes the shortcut
    for w in map(str.lower, words):  # the keys are lower-cased words
        for key in {w, w.encode()} if w.isascii() else {w}:
            assert np.frombuffer(pieces[key], np.intc).tolist() == tok.encode(w, add_special_tokens=False).ids, key


def test_word_pieces_shortcut_only_when_encode_would_agree(small_static):
    from tokenizers import Tokenizer

    from rag.embedding.static_vectors import _Pieces

    tok = Tokenizer.from_str(small_static.tokenizer.to_str())
    tok.enable_truncation(max_length=2)
    pieces = _Pieces(tok)
    assert pieces._plain_max == 2
    word = "antidisestablishmentarianism"  # more pieces than the truncation keeps
    assert np.frombuffer(pieces[word.encode()], np.intc).tolist() == tok.encode(word, add_special_tokens=False).ids
    tok.enable_padding(length=8)
    assert _Pieces(tok)._plain_max == 0
