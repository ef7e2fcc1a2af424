"""Dense pseudo-relevance feedback (Rocchio), checked against hand values."""

from __future__ import annotations

import numpy as np
import pytest

from rag.search.feedback import FeedbackParams, rocchio


def test_rocchio_moves_the_query_toward_the_feedback_centroid_and_normalizes():
    q = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    top = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)  # centroid (0, .5, .5)
    out = rocchio(q, top, beta=2.0)  # (1, 1, 1) normalized
    assert out.tolist() == pytest.approx([3 ** -0.5] * 3, abs=1e-6)
    assert float(np.linalg.norm(out)) == pytest.approx(1.0, abs=1e-6)


def test_rocchio_without_feedback_returns_the_query():
    q = np.array([0.6, 0.8], dtype=np.float32)
    assert rocchio(q, np.empty((0, 2), dtype=np.float32), beta=1.0).tolist() == pytest.approx([0.6, 0.8])
    assert rocchio(q, np.array([[1.0, 0.0]]), beta=0.0).tolist() == pytest.approx([0.6, 0.8])


def test_feedback_params_refuse_nonsense():
    with pytest.raises(ValueError):
        FeedbackParams(beta=-1.0)
    with pytest.raises(ValueError):
        FeedbackParams(beta=1.0, docs=0)
