"""How often web-page chrome ("Leave a Reply", "Up ↑", ...) reaches the top 5, with and without
the boilerplate rule (rag.documents.boilerplate), on the seed article and questions about it.

    python bench/boilerplate_top5.py [seeds]
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import rag.documents.chunking as chunking
from rag import Retriever, build_index
from rag.documents.boilerplate import is_boilerplate

QUESTIONS = [
    "What did the Russian foreign ministry say about the US?",
    "Who called for a boycott of the presidential elections?",
    "What is the main obstacle to ending the war in Syria?",
    "What did Rex Tillerson say in Paris?",
    "Which media outlets did Klimov refer to?",
    "What is the Sochi peace conference about?",
    "Who is the author and where can I contact him?",
    "What is the title of the author's newest book?",
    "Did the author comment on Twitter or Facebook?",
    "how can I reply to this article",
    "who likes this post",
    "log in with my account",
]


@contextmanager
def boilerplate_rule(on: bool) -> Iterator[None]:
    """Chunking with its boilerplate rule on (as shipped) or off, for this block only: chunking has
    no setting for it, so "off" swaps the rule in rag.documents.chunking and puts it back after."""
    shipped = chunking.is_boilerplate
    chunking.is_boilerplate = shipped if on else (lambda text: False)
    try:
        yield
    finally:
        chunking.is_boilerplate = shipped


def main() -> None:
    seeds = Path(sys.argv[1] if len(sys.argv) > 1 else "seeds")
    out = {}
    for variant in ("without rule", "with rule"):
        with tempfile.TemporaryDirectory() as tmp:
            with boilerplate_rule(on=variant == "with rule"):
                build_index(seeds, Path(tmp) / "idx", export_query_encoder=False)
            r = Retriever.open(Path(tmp) / "idx")
            row = {"passages": len(r.passages)}
            for mode in ("hybrid", "dense", "bm25"):
                hits = [r.search(q, k=5, mode=mode, answers=False) for q in QUESTIONS]
                row[mode] = {
                    "chrome_in_top5": sum(is_boilerplate(h.text) for hs in hits for h in hs),
                    "questions_with_chrome_in_top5": sum(any(is_boilerplate(h.text) for h in hs) for hs in hits),
                    "questions_with_chrome_first": sum(bool(hs) and is_boilerplate(hs[0].text) for hs in hits),
                }
            out[variant] = row
    print(json.dumps({"questions": len(QUESTIONS), **out}, indent=1))


if __name__ == "__main__":
    main()
