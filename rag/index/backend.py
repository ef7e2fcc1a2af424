"""The index backend seam: passages under stable string keys, searched densely and lexically.

A backend holds passages, each under a key that stays the same across builds (the build derives it
from the source file, the location and a hash of the text). The build sends only what changed:
``upsert`` (a new or changed passage), ``delete`` (a passage that disappeared), then ``commit``,
which makes every pending change visible at once and names the new version. Readers see one
version from open to close; nothing they see changes under them.

Records carry the vector (float32, L2-normalized), the stemmed BM25 terms (the caller tokenizes, so
every backend scores the same terms) and a JSON-able payload (the passage text and its citation).

In rag, :func:`rag.indexing.build.build_index` writes through this interface (keys from
:func:`rag.index.passages_io.passage_key`: source, character span, text hash). The retriever also
uses the local backend's position methods (``dense_positions``, ``lexical_positions``,
``payload_at``, ``vector_at``: live passages numbered 0..count-1 within one open version), which a
server backend would provide by numbering its hits per query, or replace by keys.

How a server-backed engine (Qdrant, OpenSearch, pgvector) fits the same contract:

- Every stored point/document/row carries the passage key, its payload and a ``generation`` field:
  the number of the commit that wrote it. A commit writes the new passages with generation
  ``g+1`` and records deletions as ``deleted_at = g+1`` (a tombstone) instead of removing rows.
- A version is a generation number; the atomic switch is one write of that number, e.g. a Qdrant /
  OpenSearch *alias* or a one-row ``current`` table in Postgres updated in one transaction (in
  Postgres the whole commit can be a single transaction, and the generation filter is optional).
  Readers open by reading the number once and filter every query with
  ``generation <= g and (deleted_at is null or deleted_at > g)``.
- Garbage collection removes rows with ``deleted_at <= previous generation`` (the local backend's
  "keep current and previous"); compaction is the engine's own (segment merging, ``VACUUM``).
- A full rebuild (another model, another chunking) writes a *shadow collection* and switches the
  alias to it; the engine's snapshots replace the local backend's copy-free versions for backups.
- Exact BM25 across generations: the engine's own BM25 (OpenSearch) counts deleted documents until
  merged, so scores may drift slightly; the local backend is exact.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Record:
    """One passage to store: stable key, normalized float32 vector, stemmed terms, JSON payload."""

    key: str
    vector: np.ndarray
    tokens: list[str]
    payload: dict = field(default_factory=dict)


Hit = tuple[str, float]


class IndexBackend(abc.ABC):
    """An index of passages by stable key. Writers buffer changes until :meth:`commit`."""

    @classmethod
    @abc.abstractmethod
    def open(cls, location: str | Path, *, writable: bool = False, dim: int | None = None) -> "IndexBackend":
        """Open the current version; ``writable`` takes the single-writer lock (``dim`` needed on a new index)."""

    @abc.abstractmethod
    def upsert(self, records: Iterable[Record]) -> None:
        """Add or replace passages by key (visible after :meth:`commit`)."""

    @abc.abstractmethod
    def delete(self, keys: Iterable[str]) -> None:
        """Remove passages by key; unknown keys are ignored (visible after :meth:`commit`)."""

    @abc.abstractmethod
    def commit(self) -> str:
        """Make the pending changes visible atomically; returns the new version's name."""

    @abc.abstractmethod
    def search_dense(self, query_vectors: np.ndarray, n: int) -> list[list[Hit]]:
        """Per query vector, the ``n`` best ``(key, inner product)``, best first."""

    @abc.abstractmethod
    def search_lexical(self, query_tokens: Sequence[str], n: int) -> list[Hit]:
        """The ``n`` best ``(key, BM25 score)`` with a positive score, best first."""

    @abc.abstractmethod
    def get(self, keys: Sequence[str]) -> list[dict | None]:
        """The payloads of ``keys`` in the open version (None for an unknown key)."""

    @abc.abstractmethod
    def count(self) -> int:
        """How many live passages the open version holds."""

    @property
    @abc.abstractmethod
    def version(self) -> str | None:
        """The name of the open version (None for an index with no commit yet)."""

    def close(self) -> None:
        """Release the lock and files (readers may also just drop the object)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
