"""The effect of contextual chunk headers on retrieval: SciFact with the abstract's title as the
passage's header (what rag does), without any title, and with the title inside the text (as
before headers existed).

    python bench/context_headers.py ../shared/data/scifact [variants...]

Each variant is a copy of the data set (the corpus rewritten: titles dropped, or put in front of the
text) evaluated by ``rag.evaluation.evaluate`` into its own index under indexes/ (the first run
embeds the corpus); prints one JSON line per variant with nDCG@10 per mode.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from rag.evaluation.beir import record_parts
from rag.evaluation.evaluate import evaluate

VARIANTS = ("header", "none", "inline")


def variant_data(data: Path, variant: str, where: Path) -> Path:
    """``data`` itself for "header"; else a copy whose records have no title ("none") or have it
    in front of their text ("inline")."""
    if variant == "header":
        return data
    out = where / data.name
    out.mkdir(parents=True)
    for f in data.iterdir():
        if f.name.startswith(("queries", "qrels")):
            shutil.copy(f, out / f.name)
    with open(data / "corpus.jsonl", encoding="utf-8") as src, open(out / "corpus.jsonl", "w", encoding="utf-8") as dst:
        for line in src:
            if line.strip():
                rec = json.loads(line)
                title, text = record_parts(rec)
                if variant == "inline" and title:
                    text = f"{title} {text}"
                dst.write(json.dumps({"_id": rec["_id"], "title": "", "text": text}) + "\n")
    return out


def main() -> None:
    data = Path(sys.argv[1])
    for variant in sys.argv[2:] or VARIANTS:
        if variant not in VARIANTS:
            raise SystemExit(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
        with tempfile.TemporaryDirectory() as tmp:
            folder = variant_data(data, variant, Path(tmp))
            out = evaluate(folder, "test", index=f"indexes/beir-scifact-{variant}", answers=False)
        row = {"variant": variant, "index_seconds": out["index_seconds"]}
        row.update({m: v["ndcg@10"] for m, v in out["modes"].items()})
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
