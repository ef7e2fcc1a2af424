"""No test asks a calibration training question as its "unanswerable" one.

The confidence model is fitted at build time with rag/data/offtopic_questions.txt as its negatives;
a test that checks "not in your documents" with one of those questions (or a near copy) checks the
model on its own training data. Every question written in the tests is compared with the bank.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import unanswerable
from rag.documents.tokens import query_terms
from rag.indexing.calibration import offtopic_questions

TESTS = Path(__file__).resolve().parent


def _norm(q: str) -> str:
    return " ".join(q.lower().split())


def _near(a: str, b: str) -> bool:
    """Most of the searched words (stemmed; stopwords and question words out) shared: a near copy."""
    ta, tb = _terms(a), _terms(b)
    return bool(ta and tb) and len(ta & tb) / len(ta | tb) > 0.5


@functools.cache
def _terms(q: str) -> frozenset[str]:
    return frozenset(query_terms(q))


def _questions_in_tests() -> dict[str, str]:
    """Every string constant ending in '?' in the test sources (but this file's examples): question -> where."""
    out = {}
    for path in sorted(p for p in TESTS.rglob("*.py") if p.resolve() != Path(__file__).resolve()):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip().endswith("?"):
                out.setdefault(node.value.strip(), f"{path.relative_to(TESTS)}:{node.lineno}")
    return out


def test_no_test_question_is_a_calibration_question():
    bank = offtopic_questions()
    assert len(bank) >= 100
    exact = {_norm(q) for q in bank}
    found = _questions_in_tests()
    assert set(unanswerable.ALL) <= set(found)  # the scan sees the shared constants
    bad = [(q, where) for q, where in found.items() if _norm(q) in exact or any(_near(q, b) for b in bank)]
    assert bad == []


def test_the_check_would_catch_a_bank_question_and_a_near_copy():
    bank = offtopic_questions()
    assert "What is the capital of Australia?" in bank
    assert _norm("what is the capital of  Australia?") in {_norm(q) for q in bank}
    assert any(_near("Who won the football world cup in 1998?", b) for b in bank)
    assert not any(_near(q, b) for q in unanswerable.ALL for b in bank)
