"""The index backend seam: what the build writes and what the search reads, and nothing more.

A backend holds passages, each under a key that stays the same across builds (the build derives it
from the source file, the location and a hash of the text: :func:`rag.index.passages_io.passage_key`).
Two protocols say exactly what rag calls:

- :class:`IndexWriter`, the build's side (:mod:`rag.indexing.build`): the keys and stored vectors of
  a source's passages in the version it builds on (``keys_with_prefix``, ``vectors_of``), then only
  what changed: ``upsert`` (a new or changed passage), ``delete`` (a passage that disappeared),
  ``set_meta`` (the build's record), ``staged()`` (a read view of the version about to be published,
  which the confidence fit reads) and ``commit``, which makes every pending change visible at once
  and names the new version.
- :class:`IndexReader`, the search's side (the stages of :mod:`rag.search` through
  :class:`rag.search.view.SearchView`, the confidence fit of :mod:`rag.indexing.calibration`, the
  Ray shards): one version, fixed from open to close; nothing a reader sees changes under it.
  Its live passages are numbered by *position*, 0..count()-1; dense and BM25 search return
  positions, and ``payload_at`` / ``vector_at`` read a passage by position. Positions are valid only
  within the reader that gave them.

Records carry the vector (float32, L2-normalized), the stemmed BM25 terms (the caller tokenizes, so
every backend scores the same terms) and a JSON-able payload (the passage text and its citation).
BM25 is exact over the live passages of the version: Lucene's idf and the term weight of
:func:`rag.index.lexical.term_weights`, with N, the average length and the document frequencies
counted over live passages only.

Opening is the backend's own (:meth:`rag.index.local.LocalIndex.open`); the protocols start from an
opened object. :class:`rag.index.local.LocalIndex` implements both; ``tests/memory_backend.py`` is a
second, in-memory implementation that runs the same contract suite (``tests/test_index_backend.py``).

How a server-backed engine (Qdrant, OpenSearch, pgvector) fits the same contract:

- Every stored point/document/row carries the passage key, its payload and a ``generation`` field:
  the number of the commit that wrote it. A commit writes the new passages with generation
  ``g+1`` and records deletions as ``deleted_at = g+1`` (a tombstone) instead of removing rows.
- A version is a generation number; the atomic switch is one write of that number, e.g. a Qdrant /
  OpenSearch *alias* or a one-row ``current`` table in Postgres updated in one transaction (in
  Postgres the whole commit can be a single transaction, and the generation filter is optional).
  Readers open by reading the number once and filter every query with
  ``generation <= g and (deleted_at is null or deleted_at > g)``.
- Positions: a reader numbers the passages it has returned (position -> key, kept for the reader's
  life), so ``payload_at`` / ``vector_at`` fetch by key; ``count`` and ``doc_freq`` are the engine's
  counts under the generation filter.
- Garbage collection removes rows with ``deleted_at <= previous generation`` (the local backend's
  "keep current and previous"); compaction is the engine's own (segment merging, ``VACUUM``).
- A full rebuild (another model, another chunking) writes a *shadow collection* and switches the
  alias to it; the engine's snapshots replace the local backend's copy-free versions for backups.
- Exact BM25 across generations: the engine's own BM25 (OpenSearch) counts deleted documents until
  merged, so scores may drift slightly; the local backend is exact.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Record:
    """One passage to store: stable key, normalized float32 vector, stemmed terms, JSON payload."""

    key: str
    vector: np.ndarray
    tokens: list[str]
    payload: dict = field(default_factory=dict)


@runtime_checkable
class IndexVersion(Protocol):
    """What both sides know of the version they opened (a writer: the version it builds on)."""

    dim: int  # the vector dimension

    @property
    @abstractmethod
    def meta(self) -> dict:
        """The writer's record stored with the version (model, files, calibration, ...; {} if none)."""

    @abstractmethod
    def count(self) -> int:
        """How many live passages the version holds."""

    @abstractmethod
    def segments(self) -> list[dict]:
        """Per part of the version: ``{"id", "kind" ("flat" or "hnsw"), "rows", "deleted"}`` (status
        lines show the dense kind; the local merge policy reads the sizes)."""

    @abstractmethod
    def close(self) -> None:
        """Release what the object holds (a writer: its lock and pending changes)."""


@runtime_checkable
class IndexReader(IndexVersion, Protocol):
    """One version, read: its live passages at positions 0..count()-1, fixed from open to close."""

    @property
    @abstractmethod
    def version(self) -> str | None:
        """The version's name (None for a writer's staged view, not published yet)."""

    @abstractmethod
    def dense_positions(self, query_vectors: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, positions)`` of shape (queries, m), m <= n: per query the ``n`` passages of
        largest inner product, best first (ties by position); position -1 (score -inf) fills a row
        where there are fewer."""

    @abstractmethod
    def lexical_positions(self, query_tokens: Sequence[str],
                          extra: Mapping[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, scores)`` of every live passage with a positive BM25 score, in any order.
        Each of ``query_tokens`` weighs 1 per occurrence; ``extra`` adds weighted terms (term ->
        weight, e.g. a follow-up's context)."""

    @abstractmethod
    def doc_freq(self, term: str) -> int:
        """How many live passages hold ``term``."""

    @abstractmethod
    def payload_at(self, pos: int) -> dict:
        """The payload of the passage at ``pos`` (IndexError outside 0..count()-1)."""

    @abstractmethod
    def vector_at(self, pos: int) -> np.ndarray:
        """The stored vector of the passage at ``pos`` (IndexError outside 0..count()-1)."""

    @abstractmethod
    def live_vectors(self) -> np.ndarray:
        """Every live vector in position order, shape (count(), dim) (reads them all)."""

    @abstractmethod
    def verify(self) -> int:
        """Check the version's stored data in full (IndexCorruptError if damaged); returns how many
        parts were checked."""


@runtime_checkable
class IndexWriter(IndexVersion, Protocol):
    """The single writer of an index: reads the version it builds on, buffers changes until
    :meth:`commit`. Opening a second writer of the same index raises IndexLockedError."""

    @abstractmethod
    def keys_with_prefix(self, prefix: str) -> list[str]:
        """The live keys that start with ``prefix``, in any order (a source's passages)."""

    @abstractmethod
    def vectors_of(self, keys: Sequence[str]) -> list[np.ndarray | None]:
        """The stored vector of each key (None for a key that is not live)."""

    @abstractmethod
    def upsert(self, records: Iterable[Record]) -> None:
        """Add or replace passages by key (visible after :meth:`commit`); ValueError for a vector of
        another dimension."""

    @abstractmethod
    def delete(self, keys: Iterable[str]) -> None:
        """Remove passages by key; unknown keys are ignored (visible after :meth:`commit`)."""

    @abstractmethod
    def set_meta(self, meta: dict) -> None:
        """The record the next commit stores (JSON-able); without it, a commit carries :attr:`meta` over."""

    @abstractmethod
    def staged(self) -> IndexReader:
        """A read view of the version the next :meth:`commit` will publish (pending changes and
        metadata applied). Close it when done; a later change discards it."""

    @abstractmethod
    def commit(self) -> str:
        """Make the pending changes visible atomically; returns the new version's name. The writer
        goes on from that version."""
