"""A question parsed once, for every stage of the search: its cleaned text, its terms, its vector
and how it reads in its conversation (:class:`Query`).

Text is cleaned where it enters (:func:`clean_question`, :func:`clean_history`,
:func:`clean_answers`); :func:`parse` then embeds the questions in one batch and, only for a
question that leans on its conversation, the earlier questions apart (so that a question's own
vector is the same with or without history).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.documents.tokens import MAX_QUERY_CHARS, query_terms
from rag.errors import QuestionError
from rag.search.followup import FollowUp, FollowUpSettings, plan
from rag.search.limits import clean_text

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_question(question: str) -> str:
    """The question with control characters removed, lone surrogates replaced (rag.search.limits) and
    length capped; raises when nothing is left."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    q = _CONTROL.sub(" ", clean_text(question))
    q = " ".join(q[: MAX_QUERY_CHARS * 2].split())[:MAX_QUERY_CHARS]
    if not q:
        raise QuestionError("the question is empty: type a few words to search for")
    return q


def clean_history(history: Sequence[str] | None, max_history: int) -> list[str]:
    """The earlier questions worth looking at: text only, blanks dropped, the ``max_history`` most recent."""
    if history is None:
        return []
    if isinstance(history, str) or not isinstance(history, Sequence):
        raise QuestionError("history must be a list of earlier questions, oldest first")
    out = []
    for h in history:
        if not isinstance(h, str):
            raise QuestionError(f"each earlier question must be text, not {type(h).__name__}")
        if h.strip():
            out.append(clean_question(h))
    return out[-max_history:]


def clean_answers(answers: Sequence[str | None] | None, history: Sequence) -> list[str | None]:
    """The earlier answers shown, aligned with ``history`` (the raw earlier questions; None where not given)."""
    if answers is None:
        return [None] * len(history)
    if isinstance(answers, str) or len(answers) != len(history):
        raise QuestionError("give one earlier answer (or None) per earlier question")
    if any(x is not None and not isinstance(x, str) for x in answers):
        raise QuestionError("each earlier answer must be text or None")
    return [clean_text(x) if x and x.strip() else None for x in answers]


@dataclass(frozen=True, slots=True)
class Query:
    """One question, ready to search."""

    text: str  # cleaned
    terms: tuple[str, ...]  # its BM25 terms (stemmed, stopwords dropped)
    vector: np.ndarray  # its own embedding
    plan: FollowUp  # whether, and how, it leans on the earlier questions
    history: tuple[str, ...] = ()  # the earlier questions looked at, oldest first
    shown: tuple[str | None, ...] = ()  # the answer shown for each of them (None: not given)
    history_vectors: np.ndarray | None = None  # their embeddings, only when the plan depends on them

    @property
    def in_conversation(self) -> bool:
        return self.plan.depends and bool(self.history)


def read(question: str, history: Sequence[str] | None, idf: Callable[[str], float],
         specific: Callable[[str], bool], settings: FollowUpSettings,
         answers: Sequence[str | None] | None = None) -> tuple[str, list[str], list[str | None], FollowUp]:
    """How one question reads in its conversation, before anything is embedded: its cleaned text,
    the earlier questions and answers kept, and its follow-up plan (:func:`rag.search.followup.plan`)."""
    text = clean_question(question)
    raw = list(history) if history is not None else []
    shown = clean_answers(answers, raw)
    hist = clean_history(raw, settings.max_history)
    kept = [a for q, a in zip(raw, shown) if isinstance(q, str) and q.strip()][-len(hist):] if hist else []
    return text, hist, kept, plan(text, hist, idf, specific, settings)


def parse(questions: Sequence[str], histories: Sequence[Sequence[str] | None] | None,
          answers: Sequence[Sequence[str | None] | None] | None, encode: Callable[[list[str]], np.ndarray],
          idf: Callable[[str], float], specific: Callable[[str], bool], settings: FollowUpSettings) -> list[Query]:
    """Each question as a :class:`Query`, embedded in one batch. ``histories``: each question's earlier
    questions (oldest first); ``answers``: the answers shown for them (see ``Retriever.search``)."""
    if histories is not None and len(histories) != len(questions):
        raise QuestionError("give one history (list of earlier questions) per question")
    if answers is not None and len(answers) != len(questions):
        raise QuestionError("give one list of earlier answers per question")
    read_ = [read(q, histories[i] if histories is not None else None, idf, specific, settings,
                  answers[i] if answers is not None else None) for i, q in enumerate(questions)]
    if not read_:
        return []
    vectors = encode([t for t, _, _, _ in read_])
    # the earlier questions are embedded apart, and only where the context counts
    flat = [h for _, hist, _, p in read_ if p.depends for h in hist]
    hv = encode(flat) if flat else np.empty((0, vectors.shape[1]), np.float32)
    out, at = [], 0
    for (text, hist, shown, p), vec in zip(read_, vectors):
        hvecs = None
        if p.depends and hist:
            hvecs, at = hv[at: at + len(hist)], at + len(hist)
        out.append(Query(text, tuple(query_terms(text)), vec, p, tuple(hist), tuple(shown), hvecs))
    return out
