"""Searching an index: dense, BM25, or both fused, with answer sentences.

``Retriever.open(index_dir)`` opens one complete version of the index through its backend
(:class:`rag.index.local.LocalIndex`: segments memory-mapped, nothing parsed until a hit needs it);
the query encoder (ONNX Runtime, no torch; see :mod:`rag.embedding.onnx_encoder`) loads on the
first dense search. Hit rows are positions of the live passages in
that version (0..passages-1), valid for the retriever that returned them.
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
from rag.search import followup
from rag.search.verdict import found  # noqa: F401  (part of this module's interface)
from rag.search.fusion import DEFAULT_FUSION, FusionParams, fuse, ranked, rrf
from rag.search.limits import MODES, clean_text
from rag.search.results import SearchResult
from rag.documents.tokens import MAX_QUERY_CHARS, query_terms
from rag.documents.tokens import tokenize as _tokenize
from rag.embedding.model import default_model_dir, model_info, weights_stamp
from rag.index.confidence import (CONTEXT_DEPTH, DEFAULT_CALIBRATION, THRESHOLD, Calibration, hit_confidences,
                                  pair_features, query_context)
from rag.index.local import LocalIndex
from rag.index.passages_io import passage_from_payload
from rag.types import Hit, Passage

MAX_K = 1000
ANSWER_DENSE_WEIGHT = 0.3  # share of the embedding similarity in the answer-sentence score
GIVEN_LOOKUP = 5  # nearest passages searched for the one whose text a given earlier answer is
ANSWER_MAX_CHARS = 400  # a sentence is embedded from at most this many characters
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_question(question: str) -> str:
    """The question with control characters removed, lone surrogates replaced (rag.search.limits) and
    length capped; raises when nothing is left."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    q = _CONTROL.sub(" ", clean_text(question))
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


class _Passages(Sequence):
    """The live passages of one version by position, decoded from their payloads when first used."""

    def __init__(self, index: LocalIndex, where: Path) -> None:
        self._index = index
        self._where = where
        self._n = index.count()
        self._cache: dict[int, Passage] = {}

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        i = int(i)
        if i < 0:
            i += self._n
        p = self._cache.get(i)
        if p is None:
            if not 0 <= i < self._n:
                raise IndexError(i)
            p = self._cache[i] = passage_from_payload(self._index.payload_at(i), str(self._where))
        return p


class Retriever:
    """Search one index version. Thread-safe for concurrent searches."""

    def __init__(self, version_dir: Path, manifest: dict, index: LocalIndex, encoder=None) -> None:
        self.fusion: FusionParams = DEFAULT_FUSION
        self.followup: followup.FollowUpSettings = followup.DEFAULT_FOLLOWUP  # how follow-ups are read
        self.version_dir = version_dir
        self.manifest = manifest  # the build's metadata (model, seeds root, files, counts, ...)
        self.index = index
        self.passages: Sequence[Passage] = _Passages(index, version_dir)
        self._vectors: np.ndarray | None = None
        self._encoder = encoder
        self._encoder_lock = threading.Lock()
        self.seeds_root = Path(manifest.get("seeds_root", "."))
        self._idf_cache: dict[str, float] = {}
        self._conf_idf: dict[str, float] = {}  # idf with absent terms at their largest, for confidence
        # the confidence model fitted when the index was built (a default for older indexes)
        self.calibration: Calibration = Calibration.from_json(manifest.get("calibration") or {}) or DEFAULT_CALIBRATION

    @property
    def vectors(self) -> np.ndarray:
        """Every passage vector in position order (reads them all: for tests and tools)."""
        if self._vectors is None:
            self._vectors = self.index.live_vectors()
        return self._vectors

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
            version = store.current_version(Path(index_dir))
            try:
                index = LocalIndex.open(index_dir)
            except IndexCorruptError as exc:
                if store.current_version(Path(index_dir)) == version:
                    raise  # damaged, not replaced meanwhile
                last = exc
                continue
            try:
                return cls._load(Path(index_dir) / index.version, index, encoder, model_dir, verify)
            except BaseException:
                index.close()
                raise
        assert last is not None
        raise last

    @classmethod
    def _load(cls, version: Path, index: LocalIndex, encoder, model_dir, verify: bool) -> "Retriever":
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
        return cls(version, manifest, index, encoder)

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
        r.followup = self.followup
        return r

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
        with self._encoder_lock:
            if self._encoder is None:
                from rag.embedding.onnx_encoder import load_query_encoder

                from rag.embedding.model import recorded_model

                mdir, info = recorded_model(self.manifest["model"])
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
            df = self.index.doc_freq(term)
            n = max(len(self.passages), 1)
            v = float(np.log(1.0 + (n - df + 0.5) / (df + 0.5))) if df else 0.0
            self._idf_cache[term] = v
        return v

    def specific(self, term: str) -> bool:
        """Whether ``term`` names something specific here: in the index, and nearly as rare as a word
        can be (``FollowUpSettings.specific_idf_share``)."""
        n = max(len(self.passages), 1)
        rarest = float(np.log(1.0 + (n - 1 + 0.5) / 1.5))
        return self.idf(term) >= self.followup.specific_idf_share * rarest > 0

    def _plan(self, question: str, history: list[str]) -> "followup.FollowUp":
        return followup.plan(question, history, self.idf, self.specific, self.followup)

    def follow_up(self, question: str, history: Sequence[str] | None) -> "followup.FollowUp":
        """How :meth:`search` reads ``question`` after ``history``: whether it depends on the
        conversation (``.depends``, ``.reason``), as the interfaces tell the user."""
        return self._plan(clean_question(question), followup.clean_history(history, self.followup))

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
        """
        return self.search_many([question], k=k, mode=mode, answers=answers,
                                histories=None if history is None else [history],
                                history_answers=None if history_answers is None else [history_answers])[0]

    def ask(self, question: str, k: int = 5, mode: str = "hybrid", history: Sequence[str] | None = None,
            history_answers: Sequence[str | None] | None = None) -> SearchResult:
        """:meth:`search` as every interface renders it: the hits, the verdict, how the question was
        read (a follow-up or not) and the version that answered (:class:`SearchResult`)."""
        hits, plans = self._search_batch([question], k, mode, True, None if history is None else [history],
                                         None if history_answers is None else [history_answers])
        return SearchResult(question, mode, k, str(self.version_dir.parent), self.version_dir.name, hits[0], plans[0],
                            tuple(history or ()), None if history_answers is None else tuple(history_answers))

    def search_many(
        self, questions: list[str], k: int = 5, mode: str = "hybrid", answers: bool = True,
        histories: Sequence[Sequence[str] | None] | None = None,
        history_answers: Sequence[Sequence[str | None] | None] | None = None,
    ) -> list[list[Hit]]:
        """Batched :meth:`search`: the questions are encoded together; ``histories`` gives each
        question's earlier questions and ``history_answers`` their answers (see :meth:`search`)."""
        return self._search_batch(questions, k, mode, answers, histories, history_answers)[0]

    def _search_batch(self, questions, k, mode, answers, histories, history_answers):
        """:meth:`search_many`'s hits, and how each question was read (its follow-up plan)."""
        if mode not in MODES:
            raise QuestionError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise QuestionError(f"k must be a positive whole number, not {k!r}")
        k = min(k, MAX_K, len(self.passages))
        cleaned = [clean_question(q) for q in questions]
        if not cleaned:
            return [], []
        if histories is not None and len(histories) != len(cleaned):
            raise QuestionError("give one history (list of earlier questions) per question")
        raw_hist = [list(h) if h is not None else [] for h in histories] if histories is not None else [[] for _ in cleaned]
        given = _given_answers(history_answers, raw_hist)
        hist = [followup.clean_history(h, self.followup) for h in raw_hist]
        # each kept earlier question's answer (clean_history drops blanks and keeps the newest)
        given = [[a for q, a in zip(rh, g) if q.strip()][-len(h):] if h else [] for rh, g, h in zip(raw_hist, given, hist)]
        plans = [self._plan(q, h) for q, h in zip(cleaned, hist)]
        depth = max(self.fusion.depth, k)
        ndense = depth if mode != "bm25" else CONTEXT_DEPTH
        # every mode embeds the question (confidence has the same meaning in each); the earlier
        # questions are embedded apart (so that the question's own vector is the same as without
        # history), and only where the context may count (rag.search.followup)
        qvecs = self.encoder().encode(cleaned)
        need = [bool(h) and p.depends for h, p in zip(hist, plans)]
        flat = [q for h, n in zip(hist, need) if n for q in h]
        hv = self.encoder().encode(flat) if flat else np.empty((0, qvecs.shape[1]), np.float32)
        hvecs, at = [], 0
        for h, n in zip(hist, need):
            hvecs.append(hv[at : at + len(h)] if n else None)
            at += len(h) if n else 0
        dscores, dids = self.index.dense_positions(qvecs, ndense)
        results = []
        for qi, q in enumerate(cleaned):
            memo: dict[int, int | None] = {}
            top, qvec, searched, dense, lex = self._search_one(
                q, qvecs[qi], (dscores[qi], dids[qi]), hist[qi], hvecs[qi], given[qi], plans[qi], mode, depth, ndense, memo)
            hits = self._hits(top[:k], q, searched, qvec if mode != "bm25" else None, lex if mode != "dense" else None,
                              answers)
            if plans[qi].depends and hist[qi]:
                # A follow-up is judged as if asked right after the question it follows, so that its
                # confidence does not depend on how long the conversation is.
                self._add_confidence(hits, *self._follow_up_view(q, hist[qi]))
            else:
                self._add_confidence(hits, qvec, searched, dense, lex, q)
            results.append(hits)
        return results, plans

    def _search_one(self, q: str, qvec, dense, history: list[str], hvecs, given: list[str | None], plan, mode: str,
                    depth: int, ndense: int, memo: dict[int, int | None]):
        """One question's ranking in its conversation: its own, fused with its context's when it
        depends on the conversation. Returns ``(top, query vector, searched terms, dense result,
        lexical result)``. ``memo`` keeps the best passage of each earlier question (by its place in
        ``history``), searched alone."""
        terms = query_terms(q)
        lex = self.index.lexical_positions(terms)
        top = self._ranking(dense, lex, mode, depth)
        if not (history and plan.depends):
            return top, qvec, terms, dense, lex
        rows: list[int | None] = []
        given_rows = self._given_rows(given)
        for j in range(len(history)):
            if given[j]:
                rows.append(given_rows[j])  # a passage of this index is demoted as seen, like one found below
                continue
            if j not in memo:
                ds, di = self.index.dense_positions(np.asarray(hvecs[j])[None, :], ndense)
                t = self._ranking((ds[0], di[0]), self.index.lexical_positions(query_terms(history[j])), mode, depth)
                memo[j] = t[0][0] if t else None
            rows.append(memo[j])
        qvec, context = self._context(q, qvec, history, hvecs, given, rows, plan)
        ds, di = self.index.dense_positions(qvec[None, :], ndense)
        dense = (ds[0], di[0])
        lex = self.index.lexical_positions(terms, extra=context)
        ctx_top = self._ranking(dense, lex, mode, depth)
        fused = rrf([[i for i, _ in top], [i for i, _ in ctx_top]], k=self.followup.fusion_k,
                    weights=[1.0, self.followup.expanded_weight])
        # A bare "Why?" / "When?" (no word of its own) asks about the answer just shown: that one is not demoted.
        seen = rows if terms else rows[:-1]
        fused = followup.demote_seen(fused, seen, lambda row: followup.mentions(terms, _tokenize(self.passages[row].text)),
                                     self.followup)
        return ranked(fused, depth), qvec, terms + [t for t in context if t not in terms], dense, lex

    def _ranking(self, dense, lex, mode: str, depth: int) -> list[tuple[int, float]]:
        """The ``depth`` best ``(position, score)`` of one query in ``mode``, from its dense
        ``(scores, positions)`` and its lexical ``(positions, scores)``."""
        keep = dense[1] >= 0
        dense_ids, dense_sc = dense[1][keep].astype(np.int64), dense[0][keep]
        if mode == "dense":
            return list(zip(dense_ids.tolist(), dense_sc.tolist()))[:depth]
        if mode == "bm25":
            ids, sc = _top_positive(lex, depth)
            return list(zip(ids.tolist(), sc.tolist()))
        return ranked(fuse(self.fusion, (dense_ids, dense_sc), _top_positive(lex, depth)), depth)

    def _follow_up_view(self, question: str, history: list[str]) -> tuple[np.ndarray, list[str], None, tuple, str]:
        """The query a follow-up's confidence is judged by: the question it follows (the last earlier
        one that names something: "When?" after "Why?" follows the question before) and the follow-up
        read as one text, with both questions' terms (``_add_confidence``'s arguments after the hits)."""
        previous = next((h for h in reversed(history) if query_terms(h)), history[-1])
        text = f"{previous} {question}"
        vec = np.asarray(self.encoder().encode([text])[0], np.float32)
        terms = query_terms(text)
        return vec, terms, None, self.index.lexical_positions(terms), text

    def _given_rows(self, given: list[str | None]) -> list[int | None]:
        """For each given earlier answer: the position of the passage of this index whose text it is
        (None for an answer from elsewhere, or none given). The passage is looked up by the answer's
        own vector among its nearest neighbours, and must have the very same text."""
        have = [j for j, a in enumerate(given) if a]
        rows: list[int | None] = [None] * len(given)
        if not have or not self.passages:
            return rows
        texts = [str(given[j]) for j in have]
        enc = self.encoder().encode([t[: ANSWER_MAX_CHARS * 4] for t in texts])
        _, near = self.index.dense_positions(enc, min(GIVEN_LOOKUP, len(self.passages)))
        for j, t, cand in zip(have, texts, near):
            rows[j] = next((int(c) for c in cand if c >= 0 and self.passages[int(c)].text == t), None)
        return rows

    def _context(self, question: str, qvec, history: list[str], hvecs, given: list[str | None],
                 rows: list[int | None], plan) -> tuple[np.ndarray, dict[str, float]]:
        """The dense query vector and BM25 expansion terms of ``question`` in its conversation: its
        earlier questions' (``plan``) and the passages that answered them (the passage at ``rows``,
        else the ``given`` text)."""
        rec = followup.recency_weights(len(history), self.followup)
        texts, prec = [], []
        for j in range(len(history)):
            text = self.passages[rows[j]].text if rows[j] is not None else given[j]
            if text:
                texts.append(_tokenize(str(text)))
                prec.append(rec[j])
        own = set(query_terms(question))
        s = self.followup
        context = followup.merge_terms(plan.terms, followup.passage_terms(texts, own, self.idf, prec, s), len(own), s)
        vecs, weights = [np.asarray(hvecs, dtype=np.float32)], list(plan.history_weights)
        if s.concat_weight > 0:
            # the answer the caller showed for the last earlier question (not one found again here)
            shown = str(given[-1]) if given and given[-1] else ""
            conv = followup.conversation_text(question, history, shown, s)
            vecs.append(np.asarray(self.encoder().encode([conv]), np.float32))
            weights.append(s.concat_weight)
        mixed = np.vstack(vecs)
        return followup.mix_vector(qvec, mixed, weights), context

    def _hits(self, top, question: str, terms: list[str], qvec, lex, answers: bool) -> list[Hit]:
        hits = []
        term_set = tuple(sorted(set(terms)))
        for rank, (i, score) in enumerate(top, start=1):
            p = self.passages[i]
            dense_score = float(np.dot(self.index.vector_at(i), qvec)) if qvec is not None else None
            bm25_score = None
            if lex is not None:
                at = np.flatnonzero(lex[0] == i)
                bm25_score = float(lex[1][at[0]]) if len(at) else 0.0
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
                title=p.title,
                dense_score=dense_score,
                bm25_score=bm25_score,
                terms=term_set,
            )
            hits.append(hit)
        if answers:
            self.add_answers(hits, question, terms=terms, qvec=qvec)
        return hits

    def _add_confidence(self, hits: list[Hit], qvec, terms: list[str], dense, lex, question: str = "") -> None:
        """Set ``hit.confidence``: the calibrated probability that the passage answers the question."""
        if not hits:
            return
        probs = hit_confidences(self.calibration, self.index, qvec, terms, question, [h.row for h in hits],
                                [self.index.vector_at(h.row) for h in hits], [h.text for h in hits], dense=dense,
                                lex=lex, static=getattr(self.encoder(), "static_vectors", None), idf_cache=self._conf_idf)
        for h, p in zip(hits, probs):
            h.confidence = p

    def add_answers(self, hits: list[Hit], question: str, terms: list[str] | None = None, qvec=None) -> None:
        """Set ``hit.answer`` of each hit: the sentence that best answers ``question``.

        Sentences are scored by the question's words they contain (idf-weighted) and, with weight
        ``ANSWER_DENSE_WEIGHT``, by their embedding's similarity to the question's.
        """
        if not hits:
            return
        if terms is None:
            terms = query_terms(clean_question(question))
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
                                     dense_weight=ANSWER_DENSE_WEIGHT, question=question)

    def passages_by_hit(self, hit: Hit) -> Passage:
        return self.passages[hit.row]


def _given_answers(history_answers, histories: list[list]) -> list[list[str | None]]:
    """Each question's earlier answers, aligned with its history (None where not given)."""
    if history_answers is None:
        return [[None] * len(h) for h in histories]
    if len(history_answers) != len(histories):
        raise QuestionError("give one list of earlier answers per question")
    out = []
    for a, h in zip(history_answers, histories):
        a = [None] * len(h) if a is None else a
        if isinstance(a, str) or len(a) != len(h):
            raise QuestionError("give one earlier answer (or None) per earlier question")
        if any(x is not None and not isinstance(x, str) for x in a):
            raise QuestionError("each earlier answer must be text or None")
        out.append([clean_text(x) if x and x.strip() else None for x in a])
    return out


def _top_positive(lex: tuple[np.ndarray, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best ``(positions, scores)`` of a lexical result, best first (ties by position)."""
    ids, sc = lex
    if n < len(ids):
        part = np.argpartition(-sc, n - 1)[:n]
        keep = sc >= sc[part].min()  # every tie at the cut, so that ties there also go by position
        ids, sc = ids[keep], sc[keep]
    order = np.lexsort((ids, -sc))[:n]
    return ids[order].astype(np.int64), sc[order]


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
