"""A follow-up searched in its conversation (the stage after the question's own ranking, only for a
question that leans on the earlier ones; see :mod:`rag.search.followup` for how it is read).

The question is searched again with its context (the earlier questions and the passages that
answered them, weighted by recency): a dense query vector mixed with theirs, BM25 terms expanded
with theirs. That ranking is fused with the question's own, and passages already shown are demoted
a little (a follow-up asks for something new).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rag.documents.tokens import query_terms, tokenize
from rag.search import followup
from rag.search.fusion import rank, ranked, rrf
from rag.search.query import Query
from rag.search.view import SearchView


def search_in_conversation(view: SearchView, q: Query, own: list[tuple[int, float]], mode: str, depth: int,
                           ndense: int) -> tuple[list[tuple[int, float]], np.ndarray, list[str], tuple, tuple]:
    """The ranking of follow-up ``q`` in its conversation, fused with its ``own`` ranking. Returns
    ``(ranking, query vector, searched terms, dense result, lexical result)`` of the context search."""
    s = view.settings.followup
    rows = answered_rows(view, q, mode, depth, ndense)
    qvec, context = context_query(view, q, rows)
    ds, di = view.index.dense_positions(qvec[None, :], ndense)
    dense = (ds[0], di[0])
    terms = list(q.terms)
    lex = view.index.lexical_positions(terms, extra=context)
    with_context = rank(dense, lex, mode, depth, view.settings.fusion)
    fused = rrf([[i for i, _ in own], [i for i, _ in with_context]], k=s.fusion_k, weights=[1.0, s.expanded_weight])
    # A bare "Why?" / "When?" (no word of its own) asks about the answer just shown: that one is not demoted.
    seen = rows if terms else rows[:-1]
    fused = followup.demote_seen(fused, seen, lambda row: followup.mentions(terms, tokenize(view.passages[row].text)), s)
    return ranked(fused, depth), qvec, terms + [t for t in context if t not in terms], dense, lex


def answered_rows(view: SearchView, q: Query, mode: str, depth: int, ndense: int) -> list[int | None]:
    """For each earlier question, the passage that answered it: the shown answer's passage in this
    index, else the best passage of the earlier question searched alone (None when neither)."""
    given = shown_rows(view, q.shown)
    rows: list[int | None] = []
    for j, h in enumerate(q.history):
        if q.shown[j]:
            rows.append(given[j])  # a passage of this index is demoted as seen, like one found below
            continue
        ds, di = view.index.dense_positions(np.asarray(q.history_vectors[j])[None, :], ndense)
        top = rank((ds[0], di[0]), view.index.lexical_positions(query_terms(h)), mode, depth, view.settings.fusion)
        rows.append(top[0][0] if top else None)
    return rows


def shown_rows(view: SearchView, shown: Sequence[str | None]) -> list[int | None]:
    """For each shown answer: the position of the passage of this index whose text it is (None for an
    answer from elsewhere, or none shown). The passage is looked up by the answer's own vector among
    its nearest neighbours, and must have the very same text."""
    have = [j for j, a in enumerate(shown) if a]
    rows: list[int | None] = [None] * len(shown)
    if not have or not view.passages:
        return rows
    texts = [str(shown[j]) for j in have]
    enc = view.encode([t[: view.settings.answer_max_chars * 4] for t in texts])
    _, near = view.index.dense_positions(enc, min(view.settings.given_lookup, len(view.passages)))
    for j, t, cand in zip(have, texts, near):
        rows[j] = next((int(c) for c in cand if c >= 0 and view.passages[int(c)].text == t), None)
    return rows


def context_query(view: SearchView, q: Query, rows: list[int | None]) -> tuple[np.ndarray, dict[str, float]]:
    """The dense query vector and BM25 expansion terms of ``q`` in its conversation: its earlier
    questions' (its plan) and the passages that answered them (the passage at ``rows``, else the
    shown text)."""
    s = view.settings.followup
    rec = followup.recency_weights(len(q.history), s)
    texts, prec = [], []
    for j in range(len(q.history)):
        text = view.passages[rows[j]].text if rows[j] is not None else q.shown[j]
        if text:
            texts.append(tokenize(str(text)))
            prec.append(rec[j])
    own = set(q.terms)
    context = followup.merge_terms(q.plan.terms, followup.passage_terms(texts, own, view.stats.idf, prec, s), len(own), s)
    vecs, weights = [np.asarray(q.history_vectors, dtype=np.float32)], list(q.plan.history_weights)
    if s.concat_weight > 0:
        # the answer the caller showed for the last earlier question (not one found again here)
        last = q.shown[-1] if q.shown else None
        conv = followup.conversation_text(q.text, q.history, str(last) if last else "", s)
        vecs.append(np.asarray(view.encode([conv]), np.float32))
        weights.append(s.concat_weight)
    return followup.mix_vector(q.vector, np.vstack(vecs), weights), context


def follow_up_view(view: SearchView, q: Query) -> tuple[np.ndarray, list[str]]:
    """The query a follow-up's confidence is judged by, so that it does not depend on how long the
    conversation is: the question it follows (the last earlier one that names something: "When?"
    after "Why?" follows the question before) and the follow-up read as one text. Returns its vector
    and terms."""
    previous = next((h for h in reversed(q.history) if query_terms(h)), q.history[-1])
    text = f"{previous} {q.text}"
    return np.asarray(view.encode([text])[0], np.float32), query_terms(text)
