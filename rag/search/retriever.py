"""Searching an index: dense, BM25, or both fused, with answer sentences.

``Retriever.open(index_dir)`` loads one complete version of the index (see :mod:`rag.index.store`); the
query encoder (ONNX Runtime, no torch; see :mod:`rag.embedding.onnx_encoder`) loads on the first dense
search.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.index import store
from rag.search.answer import best_sentence, sentence_candidates
from rag.errors import IndexCorruptError, IndexMismatchError, QuestionError, RagError
from rag.search.fusion import DEFAULT_FUSION, FusionParams, fuse, ranked
from rag.index.lexical import BM25Index
from rag.documents.tokens import MAX_QUERY_CHARS, tokenize
from rag.embedding.model import ModelInfo, default_model_dir, model_info, weights_stamp
from rag.index.passages_io import PassageFile
from rag.types import Hit, Passage

MODES = ("hybrid", "dense", "bm25")
MAX_K = 1000
ANSWER_DENSE_WEIGHT = 0.3  # share of the embedding similarity in the answer-sentence score
ANSWER_MAX_CHARS = 400  # a sentence is embedded from at most this many characters
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_question(question: str) -> str:
    """The question with control characters removed and length capped; raises when nothing is left."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    q = _CONTROL.sub(" ", question)
    q = " ".join(q[: MAX_QUERY_CHARS * 2].split())[:MAX_QUERY_CHARS]
    if not q:
        raise QuestionError("the question is empty: type a few words to search for")
    return q


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


class Retriever:
    """Search one index version. Thread-safe for concurrent searches."""

    def __init__(
        self,
        version_dir: Path,
        manifest: dict,
        passages: Sequence[Passage],
        vectors: np.ndarray,
        dense,
        bm25: BM25Index,
        encoder=None,
    ) -> None:
        self.fusion: FusionParams = DEFAULT_FUSION
        self.version_dir = version_dir
        self.manifest = manifest
        self.passages = passages
        self.vectors = vectors
        self._dense = dense
        self._bm25 = bm25
        self._encoder = encoder
        self._encoder_lock = threading.Lock()
        self.seeds_root = Path(manifest.get("seeds_root", "."))
        self._idf_cache: dict[str, float] = {}

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, index_dir: str | Path, *, encoder=None, model_dir: str | Path | None = None, verify: bool = False) -> "Retriever":
        """Open the current version of the index at ``index_dir``.

        Opening checks the manifest, the format, the model and every file's size, and reads no more
        of the index than searching needs, so its cost does not grow with unread files. ``verify``
        also checks every file's checksum (reads the whole index; `rag status --verify` does this).

        Raises :class:`~rag.errors.IndexMissingError`, :class:`~rag.errors.IndexCorruptError` or
        :class:`~rag.errors.IndexMismatchError` with a one-line message that says what to do.
        """
        last: RagError | None = None
        for _ in range(3):  # a build may retire the version between reading CURRENT and loading it
            version, manifest = store.open_current(Path(index_dir))
            try:
                return cls._load(version, manifest, encoder, model_dir, verify)
            except IndexCorruptError as exc:
                if version.exists():
                    raise
                last = exc
        assert last is not None
        raise last

    @classmethod
    def _load(cls, version: Path, manifest: dict, encoder, model_dir, verify: bool) -> "Retriever":
        try:
            n = int(manifest["counts"]["passages"])
            dim = int(manifest["counts"]["dim"])
            kind = str(manifest["dense"]["kind"])
            m = manifest["model"]
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
            store.verify(version, manifest)
        else:
            store.check_sizes(version, manifest)
        passages = PassageFile(version, n)  # parsed lazily: a question decodes only its hits
        try:
            vectors = np.load(version / store.VECTORS, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"vectors in {version} are damaged ({exc}); {store.REBUILD_HINT}") from None
        if vectors.shape != (n, dim) or vectors.dtype != np.float32:
            raise IndexCorruptError(
                f"vectors in {version} have shape {vectors.shape}, expected ({n}, {dim}); {store.REBUILD_HINT}"
            )
        from rag.index.dense import DenseIndex

        dense = DenseIndex.load(version, kind, n, dim)
        bm25 = BM25Index.load(version, n)
        return cls(version, manifest, passages, vectors, dense, bm25, encoder)

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
        r = Retriever.open(self.version_dir.parent, encoder=self._encoder)
        r.fusion = self.fusion
        return r

    # ----------------------------------------------------------------- info
    @property
    def info(self) -> IndexInfo:
        m = self.manifest
        return IndexInfo(
            path=self.version_dir.parent,
            version=self.version_dir.name,
            files=int(m["counts"]["files"]),
            passages=int(m["counts"]["passages"]),
            model=str(m["model"]["name"]),
            built_at=str(m.get("built_at", "")),
            seeds_root=str(m.get("seeds_root", "")),
            dense_kind=str(m["dense"]["kind"]),
        )

    def encoder(self):
        """The query encoder, loaded on first use."""
        with self._encoder_lock:
            if self._encoder is None:
                from rag.embedding.onnx_encoder import load_query_encoder

                m = self.manifest["model"]
                mdir = Path(m["path"]) if m.get("path") and Path(m["path"]).is_dir() else default_model_dir()
                info = ModelInfo(m["name"], str(mdir), int(m["dim"]), int(m["max_tokens"]), m["weights_sha256"],
                                 str(m.get("pooling", "mean")))
                from rag.embedding.pooling import read_pooling

                if read_pooling(mdir).mode != info.pooling:
                    raise IndexMismatchError(f"the index was built with {info.pooling} pooling but the model folder {mdir} "
                                     f"now declares {read_pooling(mdir).mode} pooling; run `rag index --rebuild`")
                # ONNX Runtime from the user cache's export, else sentence-transformers in process.
                self._encoder = load_query_encoder(mdir, info)
            return self._encoder

    def idf(self, term: str) -> float:
        v = self._idf_cache.get(term)
        if v is None:
            df = self._bm25.doc_freq(term)
            n = max(self._bm25.n_docs, 1)
            v = float(np.log(1.0 + (n - df + 0.5) / (df + 0.5))) if df else 0.0
            self._idf_cache[term] = v
        return v

    # ----------------------------------------------------------------- search
    def search(self, question: str, k: int = 5, mode: str = "hybrid", answers: bool = True) -> list[Hit]:
        """The ``k`` best passages for ``question``, best first."""
        return self.search_many([question], k=k, mode=mode, answers=answers)[0]

    def search_many(
        self, questions: list[str], k: int = 5, mode: str = "hybrid", answers: bool = True
    ) -> list[list[Hit]]:
        """Batched :meth:`search`: the questions are encoded together."""
        if mode not in MODES:
            raise QuestionError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise QuestionError(f"k must be a positive whole number, not {k!r}")
        k = min(k, MAX_K, len(self.passages))
        cleaned = [clean_question(q) for q in questions]
        if not cleaned:
            return []
        depth = max(self.fusion.depth, k)
        qvecs = None
        if mode in ("hybrid", "dense"):
            qvecs = self.encoder().encode(cleaned)
            dscores, dids = self._dense.search(qvecs, depth)
        results = []
        for qi, q in enumerate(cleaned):
            terms = tokenize(q)
            dense_ids = np.empty(0, dtype=np.int64)
            dense_sc = np.empty(0, dtype=np.float32)
            if qvecs is not None:
                keep = dids[qi] >= 0
                dense_ids, dense_sc = dids[qi][keep].astype(np.int64), dscores[qi][keep]
            lex_scores = self._bm25.scores(terms) if mode in ("hybrid", "bm25") else None
            if mode == "dense":
                top = list(zip(dense_ids.tolist(), dense_sc.tolist()))[:k]
            elif mode == "bm25":
                from rag.index.lexical import top_positive

                ids, sc = top_positive(lex_scores, k)
                top = list(zip(ids.tolist(), sc.tolist()))
            else:
                from rag.index.lexical import top_positive

                top = ranked(fuse(self.fusion, (dense_ids, dense_sc), top_positive(lex_scores, depth)), k)
            results.append(self._hits(top, q, terms, qvecs[qi] if qvecs is not None else None, lex_scores, answers))
        return results

    def _hits(self, top, question: str, terms: list[str], qvec, lex_scores, answers: bool) -> list[Hit]:
        hits = []
        term_set = tuple(sorted(set(terms)))
        for rank, (i, score) in enumerate(top, start=1):
            p = self.passages[i]
            dense_score = float(np.dot(self.vectors[i], qvec)) if qvec is not None else None
            bm25_score = float(lex_scores[i]) if lex_scores is not None else None
            hit = Hit(
                row=int(i),
                rank=rank,
                score=float(score),
                text=p.text,
                source=p.source,
                path=str(self.seeds_root / p.source),
                line_start=p.line_start,
                line_end=p.line_end,
                paragraph=p.paragraph,
                char_start=p.char_start,
                char_end=p.char_end,
                col_start=p.col_start if p.col_end is not None else None,
                col_end=p.col_end,
                page=p.page,
                section=p.section,
                dense_score=dense_score,
                bm25_score=bm25_score,
                terms=term_set,
            )
            hits.append(hit)
        if answers:
            self.add_answers(hits, question, terms=terms, qvec=qvec)
        return hits

    def add_answers(self, hits: list[Hit], question: str, terms: list[str] | None = None, qvec=None) -> None:
        """Set ``hit.answer`` of each hit: the sentence that best answers ``question``.

        Sentences are scored by the question's words they contain (idf-weighted) and, with weight
        ``ANSWER_DENSE_WEIGHT``, by their embedding's similarity to the question's.
        """
        if not hits:
            return
        if terms is None:
            terms = tokenize(clean_question(question))
        spans = [sentence_candidates(self.passages_by_hit(h)) for h in hits]
        dense: list[list[float] | None] = [None] * len(hits)
        enc = self.encoder() if ANSWER_DENSE_WEIGHT > 0 else None
        if enc is not None and hasattr(enc, "static_vectors"):
            texts = [h.text[a:b][:ANSWER_MAX_CHARS] for h, sp in zip(hits, spans) for a, b in sp]
            vecs = enc.static_vectors([clean_question(question)] + texts)
            sims = (vecs[1:] @ vecs[0]).tolist()
            pos = 0
            for i, sp in enumerate(spans):
                dense[i] = sims[pos : pos + len(sp)]
                pos += len(sp)
        for i, h in enumerate(hits):
            h.answer = best_sentence(terms, self.passages_by_hit(h), self.idf, spans=spans[i], dense=dense[i],
                                     dense_weight=ANSWER_DENSE_WEIGHT)

    def passages_by_hit(self, hit: Hit) -> Passage:
        return self.passages[hit.row]


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
