"""Adding one file to a 20,000-file index through ``build_index``: this checkout vs another commit.

    PYTHONPATH=$PWD .venv/bin/python bench/incremental_real.py [--before REF] [--runs 5]

The 20,000 seed files (one short paragraph each; ``--files`` for fewer) and the synthetic encoder
are bench/synthetic.py's (real model identity and word pieces, deterministic pseudo-random vectors:
embedding cost is not what is measured). Each code version gets its own index under ``--work`` (formats differ), built
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
import sys
import time
from pathlib import Path

from harness import BENCH, REPO, code_env, extract, markdown_table, ratio, run_child
from synthetic import SyntheticEncoder, write_notes

NOTE = (
    "# Harbour report\n\nThe delegation met the harbour council on Tuesday to discuss winter access.\n\n"
    "Observers from the region said the ceasefire held along the river border.\n\n"
    "A second meeting is planned at the museum library in spring.\n"
)


def worker(seeds: Path, index: Path, runs: int, files: int) -> dict:
    """In a process with the code under test first on PYTHONPATH."""
    import rag  # here, not at the top: main() runs without importing rag at all
    from rag import build_index

    try:
        from rag.embedding import model
    except ImportError:  # the layout before rag/ had subpackages (e.g. 49e74e6)
        from rag import model

    if not seeds.is_dir():
        write_notes(seeds, files)
    info = model.model_info(model.default_model_dir())
    enc = SyntheticEncoder(info, model.word_pieces(str(info.path)))
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
        if s.embedded not in (3, 4):  # three paragraphs (and, before issue 11, the heading as a passage)
            raise RuntimeError(f"adding the note embedded {s.embedded} passages, not 3: {s}")
        note.unlink()
        t = time.perf_counter()
        build_index(seeds, index, encoder=enc)
        removes.append(time.perf_counter() - t)
    return {"rag": str(Path(rag.__file__).parent), "add_s": adds, "remove_s": removes}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=BENCH / "out" / "incremental_real")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--files", type=int, default=20_000, help="seed files when --work has none yet (default 20,000)")
    ap.add_argument("--before", metavar="REF", help="also time rag/ as of this git commit")
    ap.add_argument("--json", action="store_true", help="end with one JSON line of the figures (for bench/run.py)")
    ap.add_argument("--worker", nargs=2, metavar=("SEEDS", "INDEX"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(Path(args.worker[0]), Path(args.worker[1]), args.runs, args.files)))
        return 0
    seeds = args.work / "seeds"
    codes = [("after (this checkout)", REPO, args.work / "index-after")]
    if args.before:
        codes.insert(0, (f"before ({args.before})", extract(args.before, args.work / "before-code"),
                         args.work / "index-before"))
    results, rows = {}, []
    for label, root, index in codes:
        r = run_child([sys.executable, __file__, "--worker", str(seeds), str(index), "--runs", str(args.runs),
                       "--files", str(args.files)], env=code_env(root, base=dict(os.environ)))
        if r["rc"] != 0:
            raise SystemExit(r["stderr"])
        res = json.loads(r["stdout"].strip().splitlines()[-1])
        results["before" if label.startswith("before") else "after"] = res
        rows.append((label, f"{statistics.median(res['add_s']):.3f} s", f"{statistics.median(res['remove_s']):.3f} s",
                     ", ".join(f"{x:.3f}" for x in res["add_s"]), res["rag"]))
    files = sum(1 for _ in seeds.rglob("*.txt"))
    print(f"one 3-paragraph file added to / removed from a {files:,}-file index via build_index, median of {args.runs}")
    print(markdown_table(("code", "add", "remove", "adds (s)", "rag"), rows))
    if "before" in results:
        b, a = results["before"], results["after"]
        print(f"before / after, medians: add {ratio(statistics.median(b['add_s']), statistics.median(a['add_s']))}, "
              f"remove {ratio(statistics.median(b['remove_s']), statistics.median(a['remove_s']))}")
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
