"""The effect of contextual chunk headers on retrieval: SciFact with the abstract's title as the
passage's header (what rag does), without any title, and with the title inside the text (as
before headers existed).

    python bench/context_headers.py ../shared/data/scifact [variants...]

Each variant is indexed into its own folder under indexes/ (the first run embeds the corpus);
prints one JSON line per variant with nDCG@10 per mode.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace

from rag.documents.chunking import text_hash
from rag.evaluation import beir
from rag.evaluation.evaluate import evaluate

_load = beir.load


def _variant_load(variant: str):
    def load(root, split="test"):
        ds = _load(root, split)
        if variant == "none":
            ds.passages = [replace(p, title=None, hash=text_hash(p.text)) for p in ds.passages]
        elif variant == "inline":
            ps = []
            for p in ds.passages:
                t = f"{p.title} {p.text}" if p.title else p.text
                ps.append(replace(p, text=t, char_end=len(t), title=None, hash=text_hash(t)))
            ds.passages = ps
        return ds

    return load


def main() -> None:
    data = sys.argv[1]
    for variant in sys.argv[2:] or ["header", "none", "inline"]:
        beir.load = _variant_load(variant)
        out = evaluate(data, "test", index=f"indexes/beir-scifact-{variant}", answers=False)
        row = {"variant": variant, "index_seconds": out["index_seconds"]}
        row.update({m: v["ndcg@10"] for m, v in out["modes"].items()})
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
