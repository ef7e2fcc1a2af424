"""What every search stage reads: one open index version with its term statistics, its query
encoder and the search settings (:class:`SearchView`); the settings themselves
(:class:`SearchSettings`), one frozen value passed in (benchmarks pass their own)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from rag.index.backend import IndexReader
from rag.search.confidence import Calibration, term_idf
from rag.search.followup import DEFAULT_FOLLOWUP, FollowUpSettings
from rag.search.fusion import DEFAULT_FUSION, FusionParams
from rag.types import Passage

TERM_CACHE = 8_192  # terms whose statistics a view keeps (least recently used dropped first): ~1.5 MB


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """How a question is searched."""

    fusion: FusionParams = DEFAULT_FUSION  # how the dense and BM25 rankings are combined
    followup: FollowUpSettings = DEFAULT_FOLLOWUP  # how follow-up questions are read
    answer_dense_weight: float = 0.3  # share of the embedding similarity in the answer-sentence score
    answer_max_chars: int = 400  # a sentence is embedded from at most this many characters
    given_lookup: int = 5  # nearest passages searched for the one whose text a given earlier answer is


DEFAULT_SETTINGS = SearchSettings()


class TermStats:
    """The index's statistics of one term, as the stages read them, each kept in a bounded cache."""

    def __init__(self, doc_freq: Callable[[str], int], passages: int, specific_idf_share: float) -> None:
        self._n = max(passages, 1)
        self._df = lru_cache(maxsize=TERM_CACHE)(doc_freq)
        rarest = math.log(1.0 + (self._n - 1 + 0.5) / 1.5)
        self._specific_at = specific_idf_share * rarest

    def idf(self, term: str) -> float:
        """BM25's idf of ``term`` (0 for a term absent from the index)."""
        df = self._df(term)
        return math.log(1.0 + (self._n - df + 0.5) / (df + 0.5)) if df else 0.0

    def confidence_idf(self, term: str) -> float:
        """Confidence's idf (:func:`rag.search.confidence.term_idf`: an absent term has the largest)."""
        return term_idf(self._n, self._df(term))

    def specific(self, term: str) -> bool:
        """Whether ``term`` names something specific here: in the index, and nearly as rare as a word
        can be (``FollowUpSettings.specific_idf_share`` of the idf of a word of one passage)."""
        return self.idf(term) >= self._specific_at > 0


@dataclass(frozen=True)
class SearchView:
    """One open index version as the search stages see it."""

    index: IndexReader  # the backend's read view of the version
    passages: Sequence[Passage]  # by position
    encoder: Callable[[], object]  # the query encoder, loaded on first use
    calibration: Calibration
    seeds_root: Path
    settings: SearchSettings = DEFAULT_SETTINGS
    stats: TermStats = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stats", TermStats(self.index.doc_freq, len(self.passages),
                                                    self.settings.followup.specific_idf_share))

    def encode(self, texts: list[str]):
        return self.encoder().encode(texts)
