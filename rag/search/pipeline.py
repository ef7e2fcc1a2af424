"""The search, top to bottom. Each stage is one module:

1. parse (:mod:`rag.search.query`): the question cleaned, its terms, its vector, its follow-up plan;
2. candidates and fusion (:mod:`rag.search.fusion`): the nearest passages by vector and by BM25,
   fused into one ranking in the mode asked for;
3. conversation (:mod:`rag.search.conversation`): a follow-up searched again with its context and
   fused with its own ranking (a short question with no word pointing back keeps whichever reading,
   alone or in the conversation, the documents answer with more confidence);
4. hits and answer sentences (:mod:`rag.search.hits`, :mod:`rag.search.answer`);
5. confidence (:mod:`rag.search.confidence`), from which the verdict is read
   (:mod:`rag.search.verdict`, :class:`rag.search.results.SearchResult`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.errors import QuestionError
from rag.search.confidence import CONTEXT_DEPTH, hit_confidences
from rag.search.conversation import follow_up_view, search_in_conversation
from rag.search.followup import FollowUp
from rag.search.fusion import rank
from rag.search.hits import add_answers, make_hits
from rag.search.limits import MAX_K, MODES
from rag.search.query import Query, parse
from rag.search.view import SearchView
from rag.types import Hit

JUDGED = 5  # passages of each reading whose confidence decides how a short question is read


def search(view: SearchView, questions: Sequence[str], k: int = 5, mode: str = "hybrid", answers: bool = True,
           histories: Sequence[Sequence[str] | None] | None = None,
           history_answers: Sequence[Sequence[str | None] | None] | None = None) -> list[tuple[list[Hit], FollowUp]]:
    """Each question's ``k`` best hits, best first, and how it was read (its follow-up plan)."""
    if mode not in MODES:
        raise QuestionError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise QuestionError(f"k must be a positive whole number, not {k!r}")
    k = min(k, MAX_K, len(view.passages))
    stats = view.stats
    queries = parse(questions, histories, history_answers, view.encode, stats.idf, stats.specific,
                    view.settings.followup)
    if not queries:
        return []
    depth = max(view.settings.fusion.depth, k)
    ndense = depth if mode != "bm25" else CONTEXT_DEPTH
    dscores, dids = view.index.dense_positions(np.vstack([q.vector for q in queries]), ndense)
    return [search_one(view, q, (dscores[i], dids[i]), k, mode, depth, ndense, answers) for i, q in enumerate(queries)]


@dataclass(frozen=True, slots=True)
class Reading:
    """One way of reading a question: its ranking, the query its hits' scores are read from, and the
    query its confidence is judged by."""

    top: list[tuple[int, float]]
    vector: np.ndarray
    terms: list[str]
    lex: tuple
    judge_vector: np.ndarray
    judge_terms: list[str]
    plan: FollowUp


def search_one(view: SearchView, q: Query, dense, k: int, mode: str, depth: int, ndense: int,
               answers: bool) -> tuple[list[Hit], FollowUp]:
    """One parsed question's hits, from its nearest passages by vector (``dense``: scores, positions),
    and how it was read."""
    terms = list(q.terms)
    lex = view.index.lexical_positions(terms)
    top = rank(dense, lex, mode, depth, view.settings.fusion)
    alone = Reading(top, q.vector, terms, lex, q.vector, terms, FollowUp(False, ""))
    reading = alone
    if q.in_conversation:
        ctop, cvec, cterms, _, clex = search_in_conversation(view, q, top, mode, depth, ndense)
        # A follow-up is judged as if asked right after the question it follows, so that its confidence
        # does not depend on how long the conversation is.
        jvec, jterms = follow_up_view(view, q)
        reading = Reading(ctop, cvec, cterms, clex, jvec, jterms, q.plan)
        # A short question with no word pointing back ("few words") may stand alone ("Who wrote the
        # article?") or lean on the conversation ("Which countries will attend?"): the documents
        # decide, by the reading whose best passage answers it with more confidence.
        if q.plan.reason == "few words" and _best(view, alone) > _best(view, reading):
            reading = alone
    hits = make_hits(view, reading.top[:k], reading.terms, reading.vector if mode != "bm25" else None,
                     reading.lex if mode != "dense" else None)
    if answers:
        add_answers(view, hits, q.text, reading.terms)
    for h, p in zip(hits, _confidences(view, reading, [h.row for h in hits])):
        h.confidence = p
    return hits, reading.plan


def _confidences(view: SearchView, reading: Reading, rows: list[int]) -> list[float]:
    return hit_confidences(view.calibration, reading.judge_vector, reading.judge_terms,
                           [view.index.vector_at(r) for r in rows], [view.passages[r].text for r in rows],
                           view.stats.confidence_idf)


def _best(view: SearchView, reading: Reading) -> float:
    """The best confidence among a reading's first passages (the same whatever ``k`` was asked)."""
    return max(_confidences(view, reading, [r for r, _ in reading.top[:JUDGED]]), default=0.0)
