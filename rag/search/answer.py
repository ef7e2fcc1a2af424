"""The answer sentence: the sentence of a passage that best answers the question.

Candidates are the passage's sentences (:mod:`rag.documents.sentences`). Each is scored by the weight of the
question's words it contains (idf-weighted, stemmed), normalized by a mild length penalty; the
retriever may add a dense similarity. When the question asks for a kind of answer (who -> a name,
when -> a date, how many/much -> a number, where -> a place), a sentence that holds such a thing
beyond the question's own words gets a bonus. The winner is located exactly: line and column range.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from rag.documents.tokens import tokenize_spans
from rag.documents.sentences import sentence_spans
from rag.types import Answer, Passage

IdfLookup = Callable[[str], float]

TYPE_BONUS = 0.25  # added to a sentence's [0, 1] score when it holds the kind of answer asked for

# The kind of answer a question asks for, from its question words (first match wins). "who" must be
# lower case or capitalized: "WHO guidelines" asks for no person.
_QUESTION_TYPES = (
    ("number", re.compile(r"\bhow\s+(?:many|much|long|old|far|big|large|high|often|tall|fast)\b"
                          r"|\bwhat\s+(?:percentage|percent|proportion|number|amount|fraction|share)\b", re.I)),
    ("date", re.compile(r"\b(?:[Ww]hen|WHEN)\b|\b(?:what|which)\s+(?:year|years|date|day|month|century|decade|time)\b", re.I)),
    ("person", re.compile(r"\b(?:[Ww]ho|[Ww]hom|[Ww]hose)\b")),
    ("place", re.compile(r"\b[Ww]here\b|\b(?:what|which)\s+(?:country|countries|city|cities|place|state|region|continent)\b", re.I)),
)
_MONTHS = "january february march april may june july august september october november december".split()
_DATE = re.compile(r"\b(?:1[0-9]{3}|20[0-9]{2})s?\b|\b(?:%s)\b|\bcentur(?:y|ies)\b|\b\d+(?:st|nd|rd|th)\b"
                   % "|".join(m.capitalize() for m in _MONTHS))
_NUMBER = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
                     r"fifty|hundred|thousand|million|billion|dozen|half|percent)\b", re.I)
_CAPITALIZED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z\u00E0-\u00FF]+(?:[-\s][A-Z][a-z\u00E0-\u00FF]+)*")
_PLACE = re.compile(r"\b(?:in|at|from|near|to|of)\s+(?:the\s+)?[A-Z][a-z]+")


def answer_type(question: str) -> str | None:
    """``"number"``, ``"date"``, ``"person"``, ``"place"`` or None: the kind of answer ``question`` asks for."""
    for kind, pattern in _QUESTION_TYPES:
        m = pattern.search(question)
        # A question word asks only near the start or in a question ("... when treated" in a
        # statement asks for nothing).
        if m and ("?" in question or len(question[: m.start()].split()) <= 2):
            return kind
    return None


def has_answer_type(kind: str, sentence: str, question_words: frozenset[str] = frozenset()) -> bool:
    """Does ``sentence`` hold a ``kind`` of thing that is not one of the question's own words?"""
    def new(m: re.Match) -> bool:
        return any(w.lower() not in question_words for w in re.findall(r"\w+", m.group(0)))

    if kind == "number":
        return any(new(m) for m in _NUMBER.finditer(sentence))
    if kind == "date":
        return any(new(m) for m in _DATE.finditer(sentence))
    if kind == "person":
        return any(new(m) for m in _CAPITALIZED.finditer(sentence.strip()))
    if kind == "place":
        return any(new(m) for m in _PLACE.finditer(sentence))
    return False


def sentence_candidates(passage: Passage) -> list[tuple[int, int]]:
    spans = sentence_spans(passage.text)
    return spans or [(0, len(passage.text))]


def locate(passage: Passage, a: int, b: int, score: float) -> Answer:
    """The :class:`Answer` for ``passage.text[a:b]``, with 1-based lines and inclusive columns."""
    text = passage.text
    line_start = passage.line_start + text.count("\n", 0, a)
    line_end = passage.line_start + text.count("\n", 0, max(a, b - 1))
    # Column of a char offset = distance from the previous newline (or the passage's line start).
    def col(offset: int) -> int:
        nl = text.rfind("\n", 0, offset)
        if nl >= 0:
            return offset - nl
        return offset + passage.col_start

    return Answer(
        text=text[a:b],
        score=score,
        line_start=line_start,
        col_start=col(a),
        line_end=line_end,
        col_end=col(max(a, b - 1)),
        char_start=passage.char_start + a,
        char_end=passage.char_start + b,
    )


def lexical_scores(question_terms: list[str], passage: Passage, spans: list[tuple[int, int]], idf: IdfLookup) -> list[float]:
    q = set(question_terms)
    out = []
    for terms in tokenize_spans(passage.text, spans):
        if not terms:
            out.append(0.0)
            continue
        matched = q.intersection(terms)
        weight = sum(idf(t) for t in matched)
        out.append(weight / math.log(2.0 + len(terms)))
    return out


def best_sentence(
    question_terms: list[str],
    passage: Passage,
    idf: IdfLookup,
    spans: list[tuple[int, int]] | None = None,
    dense: list[float] | None = None,
    dense_weight: float = 0.0,
    question: str | None = None,
) -> Answer:
    """The best sentence: normalized lexical score, mixed with ``dense`` similarities if given.

    With ``question`` (its text), a sentence holding the kind of answer it asks for gets
    ``TYPE_BONUS`` (see :func:`answer_type`).
    """
    if spans is None:
        spans = sentence_candidates(passage)
    lex = lexical_scores(question_terms, passage, spans, idf)
    top = max(lex) if lex else 0.0
    scores = []
    if dense is not None and len(dense) > 1:
        lo, hi = min(dense), max(dense)
        dense = [(d - lo) / (hi - lo) if hi > lo else 1.0 for d in dense]
    for i in range(len(spans)):
        s = lex[i] / top if top > 0 else 0.0
        if dense is not None:
            s = (1.0 - dense_weight) * s + dense_weight * dense[i]
        scores.append(s)
    kind = answer_type(question) if question else None
    if kind is not None:
        qwords = frozenset(w.lower() for w in re.findall(r"\w+", question))
        for i, (a, b) in enumerate(spans):
            if has_answer_type(kind, passage.text[a:b], qwords):
                scores[i] += TYPE_BONUS
    best = max(range(len(spans)), key=lambda i: (scores[i], -i))
    a, b = spans[best]
    return locate(passage, a, b, scores[best])
