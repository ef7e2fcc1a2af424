"""Adding one file to a 20,000-file index through ``build_index``: this checkout vs another commit.

    PYTHONPATH=$PWD .venv/bin/python bench/incremental_real.py [--before REF] [--runs 5]

The 20,000 seed files (one short paragraph each) and the synthetic encoder are bench/ask_scale.py's
(real model identity and word pieces, deterministic pseudo-random vectors: embedding cost is not
what is measured). Each code version gets its own index under ``--work`` (formats differ), built
once. Then, per run: write one 3-paragraph file, time ``build_index`` (add), delete it, time
``build_index`` again (remove). The timed call is the whole library path: walk and change detection
of 20,000 files, reading the new file, embedding 3 passages, the index update and its atomic switch.
Each code version runs in its own process with its ``rag/`` first on the path. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTE = (
    "# Harbour report\n\nThe delegation met the harbour council on Tuesday to discuss winter access.\n\n"
    "Observers from the region said the ceasefire held along the river border.\n\n"
    "A second meeting is planned at the museum library in spring.\n"
)


def worker(seeds: Path, index: Path, runs: int) -> dict:
    import rag  # the code under test: first on PYTHONPATH, imported before ask_scale touches sys.path

    sys.path.insert(0, str(REPO / "bench"))
    from ask_scale import SyntheticEncoder, write_many  # noqa: E402
    from rag import build_index
    from rag.embedding.model import default_model_dir, model_info

    if not seeds.is_dir():
        write_many(seeds, 20_000)
    enc = SyntheticEncoder(model_info(default_model_dir()))
    if not (index / "CURRENT").exists():
        t = time.perf_counter()
        s = build_index(seeds, index, encoder=enc)
        print(f"  built {index} ({s.passages} passages) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    note = seeds / "zz-bench-note.md"
    note.unlink(missing_ok=True)  # left by an interrupted run
    build_index(seeds, index, encoder=enc)  # settle (stamps memo), nothing to do
    adds, removes = [], []
    for _ in range(runs):
        note.write_text(NOTE, encoding="utf-8")
        t = time.perf_counter()
        s = build_index(seeds, index, encoder=enc)
        adds.append(time.perf_counter() - t)
        assert s.embedded in (3, 4), s  # three paragraphs (and, before issue 11, the heading as a passage)
        note.unlink()
        t = time.perf_counter()
        build_index(seeds, index, encoder=enc)
        removes.append(time.perf_counter() - t)
    return {"rag": str(Path(rag.__file__).parent), "add_s": adds, "remove_s": removes}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=REPO / "bench" / "out" / "incremental_real")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--before", metavar="REF", help="also time rag/ as of this git commit")
    ap.add_argument("--json", action="store_true", help="end with one JSON line of the figures (for bench/run.py)")
    ap.add_argument("--worker", nargs=2, metavar=("SEEDS", "INDEX"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(Path(args.worker[0]), Path(args.worker[1]), args.runs)))
        return 0
    sys.path.insert(0, str(REPO / "bench"))
    from ask_scale import extract

    seeds = args.work / "seeds"
    codes = [("after (this checkout)", REPO, args.work / "index-after")]
    if args.before:
        codes.insert(0, (f"before ({args.before})", extract(args.before, args.work / "before-code"),
                         args.work / "index-before"))
    print(f"one 3-paragraph file added to / removed from a 20,000-file index via build_index, median of {args.runs}")
    print(f"{'code':<30}{'add':>10}{'remove':>10}")
    results = {}
    for label, root, index in codes:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
        env["PYTHONPATH"] = str(root)
        p = subprocess.run([sys.executable, __file__, "--worker", str(seeds), str(index), "--runs", str(args.runs)],
                           capture_output=True, text=True, env=env)
        if p.returncode != 0:
            raise SystemExit(p.stderr)
        r = json.loads(p.stdout.strip().splitlines()[-1])
        results["before" if label.startswith("before") else "after"] = r
        print(f"{label:<30}{statistics.median(r['add_s']):>8.3f} s{statistics.median(r['remove_s']):>8.3f} s"
              f"   adds {[round(x, 3) for x in r['add_s']]} ({r['rag']})")
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
