"""Memory of one long-lived retriever asked many distinct long questions (issue 23's target: RSS grows
at most 40 MB over the first 3,000 and stays flat after).

    .venv/bin/python bench/memory_growth.py [--questions 6000] [--words 300] [--index indexes/default]

Each question is ``--words`` random letter strings (about 2,000 characters at 300 words, HTTP's
limit): none repeats, none is in the documents. Prints RSS after the warm-up question and every
500 questions, and the growth over the first 3,000 and after them.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
    print(f"{'questions':>10} {'RSS MB':>8}")
    print(f"{0:>10} {start:>8.1f}")
    for i in range(1, args.questions + 1):
        r.search(question(), k=5)
        if i % 500 == 0:
            marks[i] = rss_mb()
            print(f"{i:>10} {marks[i]:>8.1f}", flush=True)
    n = args.questions
    print(f"growth over the first 3,000: {marks.get(3000, float('nan')) - start:+.1f} MB; "
          f"after them: {marks.get(n, float('nan')) - marks.get(3000, float('nan')):+.1f} MB "
          f"({(time.perf_counter() - t0) / n * 1000:.0f} ms a question)")


if __name__ == "__main__":
    main()
