"""Sharded search on Ray: the passages of one index version split over shard actors.

Shard ``s`` of ``n`` holds the live passages at positions ``s, s+n, s+2n, ...`` of the version
(round robin, so shards stay within one passage of each other): their vectors (FAISS, flat or HNSW
as the single index chooses by size) and an inverted index of their BM25 terms. A search
*scatters* the question (its vector and its terms) to every shard, *gathers* each shard's top
``depth`` dense and BM25 lists, merges each side by ``(score desc, position asc)`` (the single
index's order) and fuses them with :func:`rag.search.fusion.rank` as :class:`Retriever` does.

**BM25 statistics are global.** When the searcher starts, each shard reports its passage count,
total length and per-term document frequencies; the searcher sums them and gives every shard the
index-wide ``N``, average length and document frequencies (computed once, at load time, not per
query). A shard's BM25 scores are therefore the ones the unsharded index gives the same passages,
and the global top list is contained in the union of the shards' top lists.

Shard actors load their part from ``index_dir`` themselves, so that folder must be readable on every
node (shared storage, or a copy of the same version). :class:`Shard` is a plain class; Ray wraps it.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np

from rag.distributed.cluster import require_ray
from rag.documents.headers import with_header
from rag.documents.tokens import query_terms, tokenize
from rag.errors import QuestionError
from rag.index.dense import DenseIndex
from rag.index.lexical import BM25_B, BM25_K1, term_weights
from rag.index.local import LocalIndex
from rag.index.passages_io import passage_from_payload
from rag.index.segments import data_from_tokens
from rag.search.confidence import CONTEXT_DEPTH, hit_confidences
from rag.search.fusion import rank
from rag.search.hits import hit_of
from rag.search.limits import MAX_K, MODES
from rag.search.query import clean_question
from rag.search.retriever import Retriever
from rag.search.view import TermStats
from rag.types import Hit


class Shard:
    """One shard's passages, searched densely and by BM25 (with the global statistics once set)."""

    def __init__(self, index_dir: str, shard: int, n_shards: int, dense_kind: str = "auto") -> None:
        with LocalIndex.open(index_dir) as index:
            self.version = index.version
            self.positions = np.arange(shard, index.count(), n_shards, dtype=np.int64)
            vecs = index.live_vectors()[self.positions]
            self.payloads = [index.payload_at(int(p)) for p in self.positions]
        self.vectors = np.ascontiguousarray(vecs, dtype=np.float32)
        self.dense = DenseIndex.build(self.vectors, dense_kind)
        # what the single index tokenized: the passage with its title/section header
        tokens = [tokenize(with_header(p.get("text", ""), p.get("title"), p.get("section"))) for p in self.payloads]
        d = data_from_tokens([b""] * len(tokens), self.vectors, tokens, [])
        self.vocab = {t: i for i, t in enumerate(d.terms)}
        order = np.lexsort((d.post_rows, d.post_terms))
        self._terms, self._rows, self._tf = d.post_terms[order], d.post_rows[order], d.post_tf[order]
        self.doclen = d.doclen
        self.n_docs, self.avgdl, self.df = len(tokens), 0.0, {}

    # -- global statistics ------------------------------------------------------------------------
    def local_stats(self) -> tuple[int, int, dict[str, int]]:
        """(passages, total length, document frequency per term) of this shard."""
        counts = np.bincount(self._terms, minlength=len(self.vocab)) if len(self._terms) else np.zeros(len(self.vocab))
        return len(self.positions), int(self.doclen.sum()), {t: int(counts[i]) for t, i in self.vocab.items()}

    def set_global_stats(self, n_docs: int, total_len: int, df: dict[str, int]) -> str:
        self.n_docs = n_docs
        self.avgdl = total_len / n_docs if n_docs else 0.0
        self.df = {t: df[t] for t in self.vocab if t in df}
        return self.version

    # -- searching --------------------------------------------------------------------------------
    def _postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        i = self.vocab.get(term)
        if i is None:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        a, b = np.searchsorted(self._terms, [i, i + 1])
        return self._rows[a:b], self._tf[a:b]

    def bm25(self, terms: list[str], k1: float = BM25_K1, b: float = BM25_B) -> tuple[np.ndarray, np.ndarray]:
        """(local rows, scores) with a nonzero score, by the formula and summation order of
        :meth:`rag.index.local.LocalIndex.lexical_positions`, with the global N, avgdl and df."""
        weights: dict[str, int] = {}
        for t in terms:
            if t:
                weights[t] = weights.get(t, 0) + 1
        if not weights or self.n_docs == 0:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        rows_parts, vals = [], []
        for t, w in weights.items():
            rows, tf = self._postings(t)
            if not len(rows):
                continue
            df = self.df.get(t, 0)
            idf = math.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))
            rows_parts.append(rows)
            vals.append(w * term_weights(tf, self.doclen[rows], self.avgdl, idf, k1, b))
        if not rows_parts:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        uniq, inv = np.unique(np.concatenate(rows_parts), return_inverse=True)
        return uniq, np.bincount(inv, weights=np.concatenate(vals), minlength=len(uniq))

    def search(self, qvec: np.ndarray | None, terms: list[str] | None, depth: int) -> dict:
        """This shard's top ``depth`` per side as global positions: ``{"dense": (pos, scores),
        "bm25": (pos, scores)}`` (a side is absent when not asked for)."""
        out = {}
        if qvec is not None:
            sc, rows = self.dense.search(np.atleast_2d(qvec), depth)
            keep = rows[0] >= 0
            out["dense"] = (self.positions[rows[0][keep]], sc[0][keep].astype(np.float32))
        if terms is not None:
            rows, sc = self.bm25(terms)
            keep = sc > 0
            pos, sc = self.positions[rows[keep]], sc[keep]
            out["bm25"] = top_list(pos, sc, depth)
        return out

    def fetch(self, positions: list[int], terms: list[str] | None) -> list[tuple[dict, np.ndarray, float | None]]:
        """(payload, vector, BM25 score or None) of the given global positions held here."""
        local = np.searchsorted(self.positions, np.asarray(positions, dtype=np.int64))
        scores = None
        if terms is not None:
            rows, sc = self.bm25(terms)
            scores = dict(zip(rows.tolist(), sc.tolist()))
        return [(self.payloads[r], self.vectors[r], (scores.get(int(r), 0.0) if scores is not None else None))
                for r in local.tolist()]


def top_list(pos: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best ``(positions, scores)`` ordered by score (desc), then position (asc)."""
    order = np.lexsort((pos, -scores))[:n]
    return pos[order].astype(np.int64), scores[order]


def global_stats(stats: list[tuple[int, int, dict[str, int]]]) -> tuple[int, int, dict[str, int]]:
    """Sum the shards' (passages, total length, document frequencies)."""
    df: Counter = Counter()
    for _, _, d in stats:
        df.update(d)
    return sum(s[0] for s in stats), sum(s[1] for s in stats), dict(df)


class ShardedSearcher:
    """Search over ``n_shards`` shard actors of the index at ``index_dir`` (see the module doc).

    The question is encoded here (the index's query encoder, or ``encoder``), the shards search in
    parallel. ``local=True`` keeps the shards in this process (no Ray): the same code path, for
    measuring the cost of the scatter itself. Hits carry the same ``confidence`` and answer
    sentences as :meth:`Retriever.search` gives them: both sides are always searched (confidence reads
    the question's nearest passages and its BM25 ranks in every mode), with the global statistics.
    """

    def __init__(self, index_dir: str | Path, n_shards: int, *, encoder=None, local: bool = False,
                 name: str | None = None, dense_kind: str = "auto") -> None:
        if n_shards < 1:
            raise ValueError(f"n_shards must be at least 1, not {n_shards}")
        self.retriever = Retriever.open(index_dir, encoder=encoder)  # manifest, model check, query encoder
        self.seeds_root = Path(self.retriever.manifest.get("seeds_root", "."))
        self.n_passages = len(self.retriever.passages)
        self.n_shards = n_shards
        self.local = local
        args = (str(index_dir), n_shards, dense_kind)
        if local:
            self.shards = [Shard(args[0], s, n_shards, dense_kind) for s in range(n_shards)]
        else:
            ray = require_ray()
            actor = ray.remote(num_cpus=0)(Shard)
            opts: dict = {"max_restarts": -1, "max_task_retries": -1}
            if name:  # shared by every replica of a deployment: created once, found by name after
                opts.update(get_if_exists=True, lifetime="detached")
            self.shards = [actor.options(**opts, **({"name": f"{name}-{s}-of-{n_shards}"} if name else {}))
                           .remote(args[0], s, n_shards, dense_kind) for s in range(n_shards)]
        self.named = bool(name)
        totals = global_stats(self._all("local_stats"))
        # what confidence and answer sentences read of the whole index: the shards' summed statistics
        df = totals[2]
        self._stats = TermStats(lambda t: df.get(t, 0), totals[0], self.retriever.settings.followup.specific_idf_share)
        versions = set(self._all("set_global_stats", *totals))
        if versions != {self.retriever.index.version}:
            raise QuestionError(f"the shards hold versions {sorted(versions)}, not {self.retriever.index.version}: "
                                "the index changed while the shards loaded; start the searcher again")

    def _all(self, method: str, *args) -> list:
        if self.local:
            return [getattr(s, method)(*args) for s in self.shards]
        import ray  # optional (the [ray] extra): imported where it is used

        return ray.get([getattr(s, method).remote(*args) for s in self.shards])

    def _some(self, calls: dict[int, tuple]) -> dict[int, object]:
        if self.local:
            return {i: self.shards[i].fetch(*a) for i, a in calls.items()}
        import ray  # optional (the [ray] extra): imported where it is used

        refs = {i: self.shards[i].fetch.remote(*a) for i, a in calls.items()}
        return dict(zip(refs, ray.get(list(refs.values()))))

    def search(self, question: str, k: int = 5, mode: str = "hybrid", answers: bool = True) -> list[Hit]:
        """The ``k`` best passages, as :meth:`Retriever.search` ranks them, with their confidence
        and (``answers``) their answer sentences."""
        if mode not in MODES:
            raise QuestionError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise QuestionError(f"k must be a positive whole number, not {k!r}")
        k = min(k, MAX_K, self.n_passages)
        r = self.retriever
        q = clean_question(question)
        depth = max(r.settings.fusion.depth, k, CONTEXT_DEPTH)
        qvec = r.encoder().encode([q])[0]  # every mode: confidence reads the question's vector
        terms = query_terms(q)
        parts = self._all("search", qvec, terms, depth)
        dense = top_list(np.concatenate([p["dense"][0] for p in parts]),
                         np.concatenate([p["dense"][1] for p in parts]).astype(np.float32), depth)
        lex = top_list(np.concatenate([p["bm25"][0] for p in parts]),
                       np.concatenate([p["bm25"][1] for p in parts]).astype(np.float64), depth)
        top = rank((dense[1], dense[0]), lex, mode, depth, r.settings.fusion)[:k]
        hits, vectors = self._hits(top, qvec if mode != "bm25" else None, terms if mode != "dense" else None,
                                   tuple(sorted(set(terms))))
        probs = hit_confidences(r.calibration, qvec, terms, [vectors[h.row] for h in hits], [h.text for h in hits],
                                self._stats.confidence_idf)
        for h, p in zip(hits, probs):
            h.confidence = p
        if answers and hits:
            r.add_answers(hits, q, terms)
        return hits

    def _hits(self, top, qvec, terms, term_set) -> tuple[list[Hit], dict[int, np.ndarray]]:
        """The hits of ``top`` (fetched from the shards that hold them) and each one's vector by position."""
        calls: dict[int, list[int]] = {}
        for pos, _ in top:
            calls.setdefault(int(pos) % self.n_shards, []).append(int(pos))
        got = self._some({s: (sorted(ps), terms) for s, ps in calls.items()})
        by_pos = {p: v for s, ps in calls.items() for p, v in zip(sorted(ps), got[s])}
        hits = []
        for rank_, (pos, score) in enumerate(top, start=1):
            payload, vec, bm25 = by_pos[int(pos)]
            hits.append(hit_of(passage_from_payload(payload), row=int(pos), rank=rank_, score=score,
                               seeds_root=self.seeds_root, dense_score=float(np.dot(vec, qvec)) if qvec is not None else None,
                               bm25_score=bm25, terms=term_set))
        return hits, {int(pos): by_pos[int(pos)][1] for pos, _ in top}

    def close(self) -> None:
        """Release the shard actors (named, detached ones stay for other replicas) and the index."""
        if not self.local and not self.named:
            import ray  # optional (the [ray] extra): imported where it is used

            for s in self.shards:
                ray.kill(s, no_restart=True)
        self.shards = []
        self.retriever.index.close()
