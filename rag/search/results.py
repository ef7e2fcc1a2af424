"""One search as every interface renders it: :class:`SearchResult` (``Retriever.ask``), whose
:meth:`SearchResult.to_dict` is the JSON object `rag ask --json` prints and `rag serve`/`rag mcp` return."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath

from rag.search.followup import FollowUp
from rag.search.verdict import best_confidence, verdict
from rag.types import Hit


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The hits of one question, the verdict read off them, how the question was read (``follow_up``)
    and which index version answered."""

    question: str
    mode: str
    k: int
    index: str  # the index folder
    version: str  # the version of it that answered
    hits: list[Hit]
    follow_up: FollowUp = field(default_factory=lambda: FollowUp(False, ""))
    history: tuple[str, ...] = ()
    history_answers: tuple[str | None, ...] | None = None  # echoed only when given

    @property
    def verdict(self) -> str:
        """"answer", "weak" or "not_found" (:mod:`rag.search.verdict`)."""
        return verdict(self.hits)

    @property
    def confidence(self) -> float | None:
        """The verdict's confidence: the best hit's."""
        return best_confidence(self.hits)

    @property
    def found(self) -> bool:
        return self.verdict == "answer"

    def to_dict(self, *, public: bool = False) -> dict:
        """``{question, mode, k, index, version, history, [history_answers], found, verdict, confidence,
        follow_up, hits}``; each hit as :meth:`rag.types.Hit.to_dict`. ``found`` is true exactly when the
        verdict is "answer"; ``follow_up``: ``{depends, reason}``, whether the question was read with
        its conversation. ``public``: for a client of a server (HTTP, MCP, Ray Serve), which names a
        document by its ``source`` alone: no absolute path of the server's disk (hits without ``path``;
        ``index`` is the index folder's name)."""
        index = PurePath(self.index).name if public else self.index
        out = {"question": self.question, "mode": self.mode, "k": self.k, "index": index, "version": self.version,
               "history": list(self.history)}
        if self.history_answers is not None:
            out["history_answers"] = list(self.history_answers)
        best = self.confidence
        return {**out, "found": self.found, "verdict": self.verdict, "confidence": None if best is None else round(best, 4),
                "follow_up": {"depends": self.follow_up.depends, "reason": self.follow_up.reason or None},
                "hits": [h.to_dict(public=public) for h in self.hits]}
