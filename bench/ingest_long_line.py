"""Cost of ingesting one very long line: wall time and peak memory of ``passages_of``.

Writes a file of ``--mb`` megabytes (default 15) that is a single line of ordinary sentences, reads
it as a build does (``read_seed``) and cuts it into passages with the real model's word-pieces
(``max_tokens`` 254, as a build of the bundled model). Prints the time, the peak memory (Python
allocations through tracemalloc, and the process's peak resident size, which also counts the
tokenizer's native memory), the number of passages and the citation of the first and last one.

    PYTHONPATH=$PWD .venv/bin/python bench/ingest_long_line.py            # 15 MB
    PYTHONPATH=$PWD .venv/bin/python bench/ingest_long_line.py --mb 1     # quicker

Measured 2026-11-28 on a loaded 2-core machine, --no-tracemalloc (time, peak RSS):
  before (commit 49e74e6): 1 MB 4.2 s / 196 MB, 2 MB 11.2 s / 357 MB, 4 MB 27.4 s / 630 MB
                           (superlinear; 15 MB did not finish within 300 s here)
  after:                   1 MB 2.2 s / 58 MB,  4 MB 9.1 s / 101 MB, 15 MB 42.5 s / 273 MB
The time left is the tokenizer's (about 2.5 us per word-piece), linear in the size.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from rag.documents.chunking import passages_of
from rag.documents.files import SeedFile
from rag.documents.ingest import read_seed
from rag.embedding.model import default_model_dir, model_info, word_pieces

WORDS = (
    "the harbour holds forty ships in winter while gulls circle above quiet water and old "
    "fishermen mend their nets near stone walls that have stood for centuries against storms"
).split()


def one_line(n_bytes: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < n_bytes:
        s = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 24))).capitalize() + "."
        parts.append(s)
        size += len(s) + 1
    return " ".join(parts) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=15.0, help="size of the one-line file in MB (default 15)")
    ap.add_argument("--no-tracemalloc", action="store_true", help="time without tracemalloc's overhead")
    args = ap.parse_args()
    wp = word_pieces(str(default_model_dir()))
    limit = model_info(default_model_dir(), with_hash=False).max_tokens - 2  # as a build: [CLS], [SEP]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.txt"
        path.write_text(one_line(int(args.mb * 1024 * 1024)), encoding="utf-8")
        r = read_seed(SeedFile("long.txt", path))
        assert r.text is not None, r.skip
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if not args.no_tracemalloc:
            tracemalloc.start()
        t0 = time.perf_counter()
        ps = passages_of("long.txt", r.text, token_ends=wp.token_ends, max_tokens=limit)
        seconds = time.perf_counter() - t0
        peak_py = tracemalloc.get_traced_memory()[1] if not args.no_tracemalloc else 0
        tracemalloc.stop()
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"file:        {args.mb:g} MB on one line")
    print(f"time:        {seconds:.2f} s" + ("" if args.no_tracemalloc else " (under tracemalloc)"))
    if not args.no_tracemalloc:
        print(f"peak python: {peak_py / 1e6:.0f} MB (tracemalloc)")
    print(f"peak rss:    {rss1 / 1024:.0f} MB (process; {rss0 / 1024:.0f} MB before ingest)")
    print(f"passages:    {len(ps)}; first {ps[0].citation}, last {ps[-1].citation}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
