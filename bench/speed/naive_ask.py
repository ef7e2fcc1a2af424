"""The naive one-shot query that `rag ask --json` is compared with (bench/run.py --only cold).

What a script written straight from the sentence-transformers and FAISS docs does: import
sentence-transformers, load the model, load the FAISS index file, encode the question, search, and
print the hits (their texts read from the index's passages.jsonl) as one JSON object. The cold
section writes that folder from indexes/beir-scifact (the same vectors and texts).

    python bench/speed/naive_ask.py --index-dir FOLDER --model MODEL_DIR "question"
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("question", nargs="+")
    p.add_argument("--index-dir", required=True, help="a folder with dense.faiss and passages.jsonl")
    p.add_argument("--model", required=True, help="a sentence-transformers model folder")
    p.add_argument("-k", type=int, default=5)
    args = p.parse_args(argv)
    question = " ".join(args.question)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import faiss  # after HF_HUB_OFFLINE is set: sentence-transformers reads it when imported
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(args.model, device="cpu")
    index = faiss.read_index(str(Path(args.index_dir) / "dense.faiss"))
    q = model.encode([question], normalize_embeddings=True)
    scores, ids = index.search(q, args.k)
    with open(Path(args.index_dir) / "passages.jsonl", encoding="utf-8") as f:
        passages = [json.loads(line) for line in f]
    hits = [
        {"rank": r, "score": float(s), "source": passages[i].get("source"), "text": passages[i]["text"]}
        for r, (s, i) in enumerate(zip(scores[0], ids[0]), start=1)
        if i >= 0
    ]
    sys.stdout.write(json.dumps({"question": question, "hits": hits}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
