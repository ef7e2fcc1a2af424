"""From a ranking to hits: each passage with its citation, its scores on each side and the sentence
that best answers the question (:mod:`rag.search.answer`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rag.search.answer import best_sentence, sentence_candidates
from rag.search.view import SearchView
from rag.types import Hit, Passage


def hit_of(p: Passage, *, row: int, rank: int, score: float, seeds_root: Path, dense_score: float | None,
           bm25_score: float | None, terms: tuple[str, ...]) -> Hit:
    """The hit of passage ``p`` at ``rank``, citing it in ``seeds_root``."""
    return Hit(
        row=int(row), rank=rank, score=float(score), text=p.text, source=p.source, path=str(seeds_root / p.source),
        line_start=p.line_start, line_end=p.line_end, paragraph=p.paragraph, char_start=p.char_start,
        char_end=p.char_end, col_start=p.col_start if p.col_end is not None else None, col_end=p.col_end,
        page=p.page, section=p.section, title=p.title, dense_score=dense_score, bm25_score=bm25_score, terms=terms,
    )


def make_hits(view: SearchView, top: list[tuple[int, float]], terms: list[str], qvec, lex) -> list[Hit]:
    """The hits of ``top`` (``(position, score)``, best first). ``qvec``: the query vector their dense
    score is read from (None: no dense score); ``lex``: the BM25 ``(positions, scores)`` theirs is read
    from (None: no BM25 score)."""
    term_set = tuple(sorted(set(terms)))
    hits = []
    for rank, (i, score) in enumerate(top, start=1):
        bm25 = None
        if lex is not None:
            at = np.flatnonzero(lex[0] == i)
            bm25 = float(lex[1][at[0]]) if len(at) else 0.0
        dense = float(np.dot(view.index.vector_at(i), qvec)) if qvec is not None else None
        hits.append(hit_of(view.passages[i], row=i, rank=rank, score=score, seeds_root=view.seeds_root,
                           dense_score=dense, bm25_score=bm25, terms=term_set))
    return hits


def add_answers(view: SearchView, hits: list[Hit], question: str, terms: list[str]) -> None:
    """Set ``hit.answer`` of each hit: the sentence of its passage that best answers ``question``.

    Sentences are scored by the question's words they contain (idf-weighted) and, with weight
    ``answer_dense_weight``, by the similarity of their static vectors to the question's (when the
    encoder has them).
    """
    if not hits:
        return
    s = view.settings
    spans = [sentence_candidates(view.passages[h.row]) for h in hits]
    dense: list[list[float] | None] = [None] * len(hits)
    enc = view.encoder() if s.answer_dense_weight > 0 else None
    if enc is not None and hasattr(enc, "static_vectors"):
        texts = [h.text[a:b][: s.answer_max_chars] for h, sp in zip(hits, spans) for a, b in sp]
        vecs = enc.static_vectors([question] + texts)
        sims = (vecs[1:] @ vecs[0]).tolist()
        at = 0
        for i, sp in enumerate(spans):
            dense[i] = sims[at: at + len(sp)]
            at += len(sp)
    for i, h in enumerate(hits):
        h.answer = best_sentence(terms, view.passages[h.row], view.stats.idf, spans=spans[i], dense=dense[i],
                                 dense_weight=s.answer_dense_weight, question=question)
