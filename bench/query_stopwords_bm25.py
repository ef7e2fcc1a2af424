"""BM25 alone on a BEIR set, questions read with the index's stopwords (tokenize) or with the
query stopwords (query_terms): nDCG@10 of each, without embedding anything (rag's BM25 over the
passages' texts, bench/corpus_index.py).

    PYTHONPATH=. python bench/query_stopwords_bm25.py ../shared/data/scifact --split test
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from corpus_index import CorpusIndex, write
from rag.documents.tokens import query_terms, tokenize, tokenize_many
from rag.evaluation import beir
from rag.evaluation.metrics import ndcg_at


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("--split", default="test")
    args = ap.parse_args()
    ds = beir.load(args.data_dir, args.split)
    ids = [p.source for p in ds.passages]
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp) / "bm25", tokenize_many([p.text for p in ds.passages]))
        index = CorpusIndex(Path(tmp) / "bm25")
        for name, read in (("tokenize", tokenize), ("query_terms", query_terms)):
            nd = []
            for q, text in ds.queries.items():
                rows, _ = index.lexical(read(text), 10)
                nd.append(ndcg_at([ids[i] for i in rows], ds.qrels[q], 10))
            print(f"{ds.name} {args.split} bm25 nDCG@10 with {name}: {sum(nd) / len(nd):.4f} ({len(nd)} questions)")
        index.close()


if __name__ == "__main__":
    main()
