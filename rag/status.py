"""What changed in the seeds folder since an index was built (see :mod:`rag.changes`)."""

from __future__ import annotations

from .changes import Changes, seeds_changes

__all__ = ["Changes", "seeds_changes"]
