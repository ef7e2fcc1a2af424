"""Searching an index: one open version of it, searched by :mod:`rag.search.pipeline`.

``Retriever.open(index_dir)`` opens one complete version of the index through its backend
(:class:`rag.index.local.LocalIndex`: segments memory-mapped, nothing parsed until a hit needs it);
the query encoder (ONNX Runtime, no torch; see :mod:`rag.embedding.onnx_encoder`) loads on the
first search. Hit rows are positions of the live passages in that version (0..passages-1), valid for
the retriever that returned them.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.errors import IndexCorruptError, IndexMismatchError, RagError
from rag.embedding.model import default_model_dir, model_info, weights_stamp
from rag.index import store
from rag.index.backend import IndexReader
from rag.index.local import LocalIndex
from rag.index.passages_io import passage_from_payload
from rag.search import followup, pipeline
from rag.search.confidence import DEFAULT_CALIBRATION, Calibration
from rag.search.hits import add_answers
from rag.search.limits import MAX_K  # noqa: F401  (part of this module's interface)
from rag.search.query import clean_question
from rag.search.results import SearchResult
from rag.search.verdict import found  # noqa: F401  (part of this module's interface)
from rag.search.view import DEFAULT_SETTINGS, SearchSettings, SearchView
from rag.documents.tokens import query_terms
from rag.types import Hit, Passage

PASSAGE_CACHE = 4096  # decoded passages a retriever keeps (least recently used dropped first)


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """What an opened index holds, for status lines."""

    path: Path
    version: str
    files: int
    passages: int
    model: str
    built_at: str
    seeds_root: str
    dense_kind: str


class _Passages(Sequence):
    """The live passages of one version by position, decoded from their payloads when used (a bounded cache)."""

    def __init__(self, index: IndexReader, where: Path) -> None:
        self._n = index.count()
        self._get = lru_cache(maxsize=PASSAGE_CACHE)(lambda i: passage_from_payload(index.payload_at(i), str(where)))

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        i = int(i)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        return self._get(i)


class _QueryEncoder:
    """The query encoder of an index version, loaded on first use (thread-safe); shared by the
    retrievers of :meth:`Retriever.with_settings`. A plain object, so that a retriever and its
    search view hold it without a reference cycle (a dropped retriever closes its files at once)."""

    def __init__(self, model: dict, encoder=None) -> None:
        self.model = model  # the manifest's record of the model that built the index
        self.loaded = encoder
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            if self.loaded is None:
                # imported here: opening an index (rag status, the chat's first frame) needs no encoder
                from rag.embedding.model import recorded_model
                from rag.embedding.onnx_encoder import load_query_encoder
                from rag.embedding.pooling import read_pooling

                mdir, info = recorded_model(self.model)
                if read_pooling(mdir).mode != info.pooling:
                    raise IndexMismatchError(f"the index was built with {info.pooling} pooling but the model folder {mdir} "
                                             f"now declares {read_pooling(mdir).mode} pooling; run `rag index --rebuild`")
                # ONNX Runtime from the user cache's export, else sentence-transformers in process.
                self.loaded = load_query_encoder(mdir, info)
            return self.loaded


class Retriever:
    """Search one index version. Thread-safe for concurrent searches."""

    def __init__(self, version_dir: Path, manifest: dict, index: IndexReader, encoder=None,
                 settings: SearchSettings = DEFAULT_SETTINGS) -> None:
        self.version_dir = version_dir
        self.manifest = manifest  # the build's metadata (model, seeds root, files, counts, ...)
        self.index = index
        self.passages: Sequence[Passage] = _Passages(index, version_dir)
        self._vectors: np.ndarray | None = None
        self._query_encoder = _QueryEncoder(manifest.get("model", {}), encoder)
        self.seeds_root = Path(manifest.get("seeds_root", "."))
        # the confidence model fitted when the index was built (a default for older indexes)
        self.calibration: Calibration = Calibration.from_json(manifest.get("calibration") or {}) or DEFAULT_CALIBRATION
        self.view = SearchView(index, self.passages, self._query_encoder, self.calibration, self.seeds_root, settings)

    @property
    def settings(self) -> SearchSettings:
        return self.view.settings

    def with_settings(self, settings: SearchSettings) -> "Retriever":
        """A retriever on the same version and encoder that searches with ``settings``."""
        r = copy.copy(self)  # the same query encoder, loaded once for both
        r.view = dataclasses.replace(self.view, settings=settings)
        return r

    @property
    def vectors(self) -> np.ndarray:
        """Every passage vector in position order (reads them all: for tests and tools)."""
        if self._vectors is None:
            self._vectors = self.index.live_vectors()
        return self._vectors

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, index_dir: str | Path, *, encoder=None, model_dir: str | Path | None = None, verify: bool = False,
             settings: SearchSettings = DEFAULT_SETTINGS) -> "Retriever":
        """Open the current version of the index at ``index_dir``, to search with ``settings``.

        Opening checks the manifest, the format, the model and every file's size, and reads no more
        of the index than searching needs, so its cost does not grow with unread files. ``verify``
        also checks every file's checksum (reads the whole index; `rag status --verify` does this).

        Raises :class:`~rag.errors.IndexMissingError`, :class:`~rag.errors.IndexCorruptError` or
        :class:`~rag.errors.IndexMismatchError` with a one-line message that says what to do.
        """
        last: RagError | None = None
        for _ in range(3):  # a build may retire the version between reading CURRENT and loading it
            version = store.current_version(Path(index_dir))
            try:
                index = LocalIndex.open(index_dir)
            except IndexCorruptError as exc:
                if store.current_version(Path(index_dir)) == version:
                    raise  # damaged, not replaced meanwhile
                last = exc
                continue
            try:
                return cls._load(Path(index_dir) / index.version, index, encoder, model_dir, verify, settings)
            except BaseException:
                index.close()
                raise
        assert last is not None
        raise last

    @classmethod
    def _load(cls, version: Path, index: IndexReader, encoder, model_dir, verify: bool,
              settings: SearchSettings) -> "Retriever":
        manifest = index.meta
        try:
            m = manifest["model"]
            if int(m["dim"]) != index.dim or int(manifest["counts"]["passages"]) != index.count():
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise IndexCorruptError(f"manifest in {version} is incomplete; {store.REBUILD_HINT}") from None
        if encoder is not None:
            if encoder.info.name != m.get("name") or encoder.info.dim != m.get("dim"):
                raise IndexMismatchError(
                    f"index was built with model {m.get('name')} but the encoder is {encoder.info.name}; "
                    f"{store.REBUILD_HINT}"
                )
        else:
            _check_model(m, Path(model_dir) if model_dir is not None else None)
        if verify:
            index.verify()
        return cls(version, manifest, index, encoder, settings)

    def is_current(self) -> bool:
        """False once a build has published a newer version of this index."""
        try:
            return store.current_version(self.version_dir.parent) == self.version_dir
        except RagError:
            return True  # a damaged pointer is the next open's problem; keep answering

    def refreshed(self) -> "Retriever":
        """This retriever if it is current, else one on the newest complete version.

        The query encoder is shared, so switching costs only the index load. When the new version
        cannot be opened, this one keeps answering (and the error is raised for the caller to show).
        """
        if self.is_current():
            return self
        return Retriever.open(self.version_dir.parent, encoder=self._encoder, settings=self.settings)

    # ----------------------------------------------------------------- info
    @property
    def info(self) -> IndexInfo:
        m = self.manifest
        return IndexInfo(
            path=self.version_dir.parent,
            version=self.version_dir.name,
            files=int(m["counts"]["files"]),
            passages=len(self.passages),
            model=str(m["model"]["name"]),
            built_at=str(m.get("built_at", "")),
            seeds_root=str(m.get("seeds_root", "")),
            dense_kind=dense_kind(self.index.segments()),
        )

    def encoder(self):
        """The query encoder, loaded on first use."""
        return self._query_encoder()

    @property
    def _encoder(self):
        """The query encoder if loaded, else None."""
        return self._query_encoder.loaded

    @_encoder.setter
    def _encoder(self, encoder) -> None:
        self._query_encoder.loaded = encoder

    def follow_up(self, question: str, history: Sequence[str] | None) -> followup.FollowUp:
        """How :meth:`search` reads ``question`` after ``history``: whether it depends on the
        conversation (``.depends``, ``.reason``), as the interfaces tell the user (searched: for a
        short question, the documents decide; see :mod:`rag.search.pipeline`)."""
        return self.ask(question, k=1, history=history).follow_up

    # ----------------------------------------------------------------- search
    def search(self, question: str, k: int = 5, mode: str = "hybrid", answers: bool = True,
               history: Sequence[str] | None = None, history_answers: Sequence[str | None] | None = None) -> list[Hit]:
        """The ``k`` best passages for ``question``, best first.

        ``history``: the earlier questions of the conversation, oldest first. A question that leans
        on them ("Who leads them?") is searched with their context (:mod:`rag.search.followup`);
        a self-contained one is searched as without history.
        ``history_answers``: optionally, the passage text that answered each earlier question (same
        order and length as ``history``; None or "" where unknown). Where it is not given, the
        earlier question is searched again and its best passage stands for the answer.
        :meth:`ask` gives the same hits with the verdict read off them.
        """
        return self.search_many([question], k=k, mode=mode, answers=answers,
                                histories=None if history is None else [history],
                                history_answers=None if history_answers is None else [history_answers])[0]

    def ask(self, question: str, k: int = 5, mode: str = "hybrid", history: Sequence[str] | None = None,
            history_answers: Sequence[str | None] | None = None) -> SearchResult:
        """:meth:`search` as every interface renders it: the hits, the verdict, how the question was
        read (a follow-up or not) and the version that answered (:class:`SearchResult`)."""
        [(hits, plan)] = pipeline.search(self.view, [question], k, mode, True, None if history is None else [history],
                                         None if history_answers is None else [history_answers])
        return SearchResult(question, mode, k, str(self.version_dir.parent), self.version_dir.name, hits, plan,
                            tuple(history or ()), None if history_answers is None else tuple(history_answers))

    def search_many(
        self, questions: list[str], k: int = 5, mode: str = "hybrid", answers: bool = True,
        histories: Sequence[Sequence[str] | None] | None = None,
        history_answers: Sequence[Sequence[str | None] | None] | None = None,
    ) -> list[list[Hit]]:
        """Batched :meth:`search`: the questions are encoded together; ``histories`` gives each
        question's earlier questions and ``history_answers`` their answers (see :meth:`search`)."""
        return [hits for hits, _ in pipeline.search(self.view, questions, k, mode, answers, histories, history_answers)]

    def add_answers(self, hits: list[Hit], question: str, terms: list[str] | None = None) -> None:
        """Set ``hit.answer`` of each hit (of this retriever): the sentence that best answers ``question``."""
        q = clean_question(question)
        add_answers(self.view, hits, q, query_terms(q) if terms is None else terms)


def dense_kind(segments: list[dict]) -> str:
    """How the dense side is searched: "flat", "hnsw", or both ("hnsw+flat") across segments."""
    kinds = sorted({s["kind"] for s in segments}, reverse=True)
    return "+".join(kinds) if kinds else "flat"


def _check_model(m: dict, model_dir: Path | None) -> None:
    """The model that will encode queries must be the one that built the index."""
    mdir = model_dir or (Path(m["path"]) if m.get("path") and Path(m["path"]).is_dir() else default_model_dir())
    try:
        if m.get("path") == str(mdir) and m.get("stamp") == weights_stamp(mdir):
            return  # same file, unchanged since the build: the recorded hash holds
        info = model_info(mdir)
    except RagError as exc:
        raise IndexMismatchError(f"{exc}; {store.REBUILD_HINT} with a model that exists") from None
    if info.weights_sha256 != m.get("weights_sha256") or info.dim != m.get("dim"):
        raise IndexMismatchError(
            f"index was built with model {m.get('name')} (weights {str(m.get('weights_sha256'))[:12]}), "
            f"but the model here is {info.name} (weights {info.weights_sha256[:12]}); {store.REBUILD_HINT}"
        )
