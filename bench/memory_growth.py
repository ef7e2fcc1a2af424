"""Memory of one long-lived retriever asked many distinct long questions (issue 23's target: RSS grows
at most 40 MB over the first 3,000 and stays flat after).

    .venv/bin/python bench/memory_growth.py [--questions 6000] [--words 300] [--index indexes/default]

Each question is ``--words`` random letter strings (about 2,000 characters at 300 words, HTTP's
limit): none repeats, none is in the documents. Prints RSS after the warm-up question and every
500 questions, and the growth over the first 3,000 and after them; RSS in its two parts: memory the
process allocated (RssAnon) and pages of files it maps (RssFile: the model's weights, read from the
memory-mapped ONNX and word-vector files as new words first need their rows; shared with every
process that maps them, dropped by the kernel under pressure, never more than the files' size).
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path


def rss_mb() -> tuple[float, float, float]:
    """(RSS, its allocated part, its file-backed part) in MB."""
    got = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            got[key] = int(value.split()[0]) / 1024
    return got.get("VmRSS", float("nan")), got.get("RssAnon", float("nan")), got.get("RssFile", float("nan"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", type=int, default=6000)
    ap.add_argument("--words", type=int, default=300)
    ap.add_argument("--index", default="indexes/default")
    args = ap.parse_args()
    from rag import Retriever

    r = Retriever.open(args.index)
    rng = random.Random(1)
    letters = "abcdefghijklmnopqrstuvwxyz"

    def question() -> str:
        return " ".join("".join(rng.choice(letters) for _ in range(rng.randint(3, 8))) for _ in range(args.words))[:2000]

    r.search(question(), k=5)
    start, t0 = rss_mb(), time.perf_counter()
    marks = {0: start}
    print(f"{'questions':>10} {'RSS MB':>8} {'allocated':>10} {'file pages':>11}")
    print(f"{0:>10} {start[0]:>8.1f} {start[1]:>10.1f} {start[2]:>11.1f}")
    for i in range(1, args.questions + 1):
        r.search(question(), k=5)
        if i % 500 == 0:
            marks[i] = rss_mb()
            print(f"{i:>10} {marks[i][0]:>8.1f} {marks[i][1]:>10.1f} {marks[i][2]:>11.1f}", flush=True)
    n, nan = args.questions, (float("nan"),) * 3
    for part, name in enumerate(("RSS", "allocated (RssAnon)", "file pages (RssFile)")):
        print(f"{name}: growth over the first 3,000 {marks.get(3000, nan)[part] - start[part]:+.1f} MB; "
              f"after them {marks.get(n, nan)[part] - marks.get(3000, nan)[part]:+.1f} MB")
    print(f"{(time.perf_counter() - t0) / n * 1000:.0f} ms a question")


if __name__ == "__main__":
    main()
