"""The answer sentence: the sentence of a passage that best answers the question.

Candidates are the passage's sentences (:mod:`rag.documents.sentences`). Each is scored by the weight of the
question's words it contains (idf-weighted, stemmed), normalized by a mild length penalty; the
retriever may add a dense similarity. The winner is located exactly: line and column range.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from rag.documents.tokens import tokenize_spans
from rag.documents.sentences import sentence_spans
from rag.types import Answer, Passage

IdfLookup = Callable[[str], float]


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
) -> Answer:
    """The best sentence: normalized lexical score, mixed with ``dense`` similarities if given."""
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
    best = max(range(len(spans)), key=lambda i: (scores[i], -i))
    a, b = spans[best]
    return locate(passage, a, b, scores[best])
