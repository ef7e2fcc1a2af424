"""Cold `rag ask` on the seed article vs on a 20,000-file index, side by side.

Two indexes are built under ``--work`` (default bench/out/ask_scale), once, and reused by later runs:

* ``article``: seeds/ (the seed article) built with the real model, as `rag index` does; the build
  also exports the ONNX query encoder.
* ``20k``: 20,000 files of one short paragraph each, written through the library's own build path
  (``build_index``) with bench/synthetic.py's encoder, which carries the real model's identity (name,
  path, weights hash, dimension) but returns deterministic pseudo-random unit vectors. Embedding
  20,000 passages with the real model takes many minutes on a small machine and changes nothing of
  what is measured here (the cost of opening an index and answering one question: the vectors'
  values do not change the cost of a flat inner-product search). Both indexes answer through the
  same query encoder (the model's export in the user cache).

Each timing is one fresh process: ``python -m rag ask QUESTION --seeds S --index I --json`` (hybrid,
the default mode; the real query encoder runs). Files are in the page cache after the first run, so
"cold" means a new process, not a cold disk. Medians of ``--runs`` runs, article and 20k interleaved.

    .venv/bin/python bench/ask_scale.py                        # this checkout
    .venv/bin/python bench/ask_scale.py --before 49e74e6       # and the code at another commit, too

``--before REF`` extracts ``rag/`` of that commit with ``git archive`` into the work folder and runs
the same commands with it first on ``PYTHONPATH`` (the indexes are the same files).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness import BENCH, QUESTION, REPO, SEED_ARTICLE, code_env, extract, markdown_table, ratio
from rag import build_index
from rag.embedding.model import default_model_dir, model_info, word_pieces
from synthetic import SyntheticEncoder, write_notes


def prepare(work: Path) -> tuple[tuple[Path, Path], tuple[Path, Path]]:
    art_seeds, art_index = work / "article" / "seeds", work / "article" / "index"
    big_seeds, big_index = work / "20k" / "seeds", work / "20k" / "index"
    if not (art_index / "CURRENT").exists():
        art_seeds.mkdir(parents=True, exist_ok=True)
        shutil.copy(SEED_ARTICLE, art_seeds / SEED_ARTICLE.name)
        t = time.perf_counter()
        build_index(art_seeds, art_index)
        print(f"built the article index in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    if not (big_index / "CURRENT").exists():
        if not big_seeds.is_dir():
            t = time.perf_counter()
            write_notes(big_seeds, 20_000)
            print(f"wrote 20,000 seed files in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        t = time.perf_counter()
        info = model_info(default_model_dir())
        stats = build_index(big_seeds, big_index, encoder=SyntheticEncoder(info, word_pieces(str(info.path))))
        print(f"built the 20k index ({stats.passages} passages) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return (art_seeds, art_index), (big_seeds, big_index)


def time_ask(code_root: Path, seeds: Path, index: Path) -> float:
    env = code_env(code_root, base=dict(os.environ))
    cmd = [sys.executable, "-m", "rag", "ask", QUESTION, "--seeds", str(seeds), "--index", str(index), "--json"]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=seeds.parent)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {p.stderr.strip()}")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=BENCH / "out" / "ask_scale", help="where the indexes are kept")
    ap.add_argument("--runs", type=int, default=7, help="fresh processes per configuration (default 7)")
    ap.add_argument("--before", metavar="REF", help="also time rag/ as of this git commit")
    args = ap.parse_args()
    art, big = prepare(args.work)
    codes = [("after (this checkout)", REPO)]
    if args.before:
        codes.insert(0, (f"before ({args.before})", extract(args.before, args.work / "before-code")))
    for _, root in codes:  # one warm-up each: page cache, .pyc files
        time_ask(root, *art)
        time_ask(root, *big)
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.runs):
        for label, root in codes:
            for name, (s, i) in (("article", art), ("20k", big)):
                times.setdefault((label, name), []).append(time_ask(root, s, i))
    print(f"cold `rag ask` (hybrid, --json), median of {args.runs} fresh processes")
    rows = []
    for label, _ in codes:
        a = statistics.median(times[(label, "article")])
        b = statistics.median(times[(label, "20k")])
        rows.append((label, f"{a:.3f} s", f"{b:.3f} s", f"{b - a:+.3f} s"))
    print(markdown_table(("code", "seed article", "20,000 files", "difference"), rows))
    if args.before:
        (b, _), (a, _) = codes
        for name in ("article", "20k"):
            print(f"{name}: before / after, medians: {ratio(statistics.median(times[(b, name)]), statistics.median(times[(a, name)]))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
