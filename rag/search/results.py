"""The JSON object of one search, as `rag ask --json` prints it and `rag serve`/`rag mcp` return it."""

from __future__ import annotations

from rag.types import Hit


def search_result(question: str, mode: str, k: int, index: str, hits: list[Hit]) -> dict:
    """``{question, mode, k, index, hits: [...]}``; each hit as :meth:`rag.types.Hit.to_dict`."""
    return {"question": question, "mode": mode, "k": k, "index": index, "hits": [h.to_dict() for h in hits]}
