"""What one search request may ask for, checked in one place for every way in (HTTP, MCP, Ray Serve).

:func:`checked_request` turns what a client sent into a :class:`SearchRequest` or raises
:class:`rag.errors.QuestionError` with one line that says what is allowed. Text is cleaned where it
enters: a lone surrogate (which no encoder can write, and JSON can carry) becomes U+FFFD.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.errors import QuestionError

MODES = ("hybrid", "dense", "bm25")  # the search modes, named once for every interface
MAX_K = 1000  # the most hits one search returns (a request over HTTP, MCP or Ray Serve: RequestLimits.max_k)
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class RequestLimits:
    max_k: int = 100  # passages one request may ask for
    max_question_chars: int = 2000
    max_history: int = 20  # earlier questions (and their answers) one request may carry


LIMITS = RequestLimits()


@dataclass(frozen=True, slots=True)
class SearchRequest:
    question: str
    k: int = 5
    mode: str = "hybrid"
    history: tuple[str, ...] = ()
    history_answers: tuple[str | None, ...] | None = None


def clean_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD (they cannot be encoded, printed or stored)."""
    return _SURROGATE.sub("\ufffd", text)


def checked_request(question, k=5, mode="hybrid", history=None, history_answers=None,
                    limits: RequestLimits = LIMITS) -> SearchRequest:
    """The request, checked against ``limits`` and cleaned; QuestionError (one line) otherwise."""
    if not isinstance(question, str) or not question.strip():
        raise QuestionError("question must be non-empty text")
    if len(question) > limits.max_question_chars:
        raise QuestionError(f"question is longer than {limits.max_question_chars} characters; shorten it")
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= limits.max_k:
        raise QuestionError(f"k must be a whole number from 1 to {limits.max_k}, not {k!r}")
    if mode not in MODES:
        raise QuestionError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    h = _texts(history, "history", "earlier question", optional=False)
    a = None if history_answers is None else _texts(history_answers, "history_answers", "answer", optional=True)
    if a is not None and len(a) != len(h):
        raise QuestionError("give one earlier answer (history_answers) per earlier question (history), null where none was shown")
    if len(h) > limits.max_history:  # the most recent earlier questions (and their answers)
        h, a = h[-limits.max_history:], None if a is None else a[-limits.max_history:]
    return SearchRequest(clean_text(question), k, mode, h, a)


def _texts(values, name: str, what: str, optional: bool) -> tuple:
    if values is None:
        return ()
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise QuestionError(f"{name} must be a list of texts, oldest first")
    out = []
    for v in values:
        if v is None and optional:
            out.append(None)
        elif isinstance(v, str):
            out.append(clean_text(v))
        else:
            raise QuestionError(f"each {what} in {name} must be text{' or null' if optional else ''}, not {type(v).__name__}")
    return tuple(out)
