"""Whether the documents seem to answer a question: the one rule every interface applies.

Kept free of numpy and the index, so that the UI can import it for its first frame.
"""

from __future__ import annotations

from collections.abc import Iterable

from rag.types import CONFIDENCE_THRESHOLD as THRESHOLD, Hit


def found(hits: Iterable[Hit]) -> bool:
    """Whether the documents seem to answer the question: some hit's confidence reaches :data:`THRESHOLD`."""
    return any(h.confidence is not None and h.confidence >= THRESHOLD for h in hits)
