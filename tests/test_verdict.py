"""The verdict a person reads first: three levels from the best confidence, said the same way everywhere."""

from __future__ import annotations

import pytest

from rag.search.verdict import THRESHOLD, WEAK_THRESHOLD, found, verdict, verdict_line
from rag.types import Hit


def hits_with(*confidences):
    return [Hit(row=i, rank=i + 1, score=1.0 - i / 10, text="t", source="a.txt", path="/a.txt", line_start=1,
                line_end=1, paragraph=1, char_start=0, char_end=1, confidence=c) for i, c in enumerate(confidences)]


@pytest.mark.parametrize("confidences,expected", [
    ((0.9, 0.1), "answer"),
    ((0.1, THRESHOLD), "answer"),  # the best hit speaks for the card, wherever it ranks
    ((THRESHOLD - 1e-9, 0.1), "weak"),
    ((WEAK_THRESHOLD, 0.0), "weak"),
    ((WEAK_THRESHOLD - 1e-9,), "not_found"),
    ((None, None), "not_found"),
    ((), "not_found"),
])
def test_three_levels_from_the_best_confidence(confidences, expected):
    hits = hits_with(*confidences)
    assert verdict(hits) == expected
    assert found(hits) == (expected == "answer")


def test_the_line_never_shows_a_figure_that_contradicts_its_words():
    assert verdict_line(hits_with(0.49999, 0.2)) == "May not answer this · confidence 0.49"
    assert verdict_line(hits_with(0.5)) == "Answer · confidence 0.50"
    assert verdict_line(hits_with(0.19999)) == "Not in your documents · confidence 0.19"
    assert verdict_line(hits_with(0.87), confidence=False) == "Answer"
    assert verdict_line(hits_with(None)) == "Not in your documents"
