"""The commands a user runs on a 20,000-file folder, end to end, side by side with the seed article
(issue 26's "Also"): a cold `rag ask`, and `rag index` after adding one file (then removing it).

    .venv/bin/python bench/speed/ask_at_scale.py [--runs 7] [--files 20000] [--before REF] [--json]

The folder is bench/synthetic.py's (20,000 notes of one short paragraph, 1,000 to a subfolder) and
its index is built once under ``--work`` with the synthetic encoder (real model identity, so
`rag ask` loads the real query encoder; embedding cost is not what is measured here, except the
one added file's, embedded by the real model). The seed article's index is a fresh one of seeds/.
Runs are interleaved (seed ask, 20k ask, add, remove, ...); medians. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for harness and synthetic

from harness import (BENCH, CHILD_ENV, QUESTION, REPO, code_env, extract, load_line, markdown_table,  # noqa: E402
                     rag_cli, run_child)

NOTE = "# Harbour report\n\nThe delegation met the harbour council on Tuesday.\n\nA second meeting is planned.\n"


def build(seeds: Path, index: Path, files: int) -> None:
    from synthetic import SyntheticEncoder, write_notes

    from rag import build_index
    from rag.embedding import model

    if not seeds.is_dir():
        write_notes(seeds, files)
    info = model.model_info(model.default_model_dir())
    build_index(seeds, index, encoder=SyntheticEncoder(info, model.word_pieces(str(info.path))))


def timed(argv: list[str], root: Path = REPO) -> float:
    r = run_child(argv, timeout=600, env=code_env(root, CHILD_ENV))
    if r["rc"] != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {r['stderr'][-500:]}")
    return r["wall"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--work", type=Path, default=BENCH / "out" / "ask_at_scale")
    ap.add_argument("--before", metavar="REF", help="also time the 20,000-file ask with rag/ as of this commit")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    seeds, index = args.work / "seeds", args.work / "index"
    seed_index = args.work / "seed-article-index"
    if not (index / "CURRENT").exists():
        build(seeds, index, args.files)
    rag = rag_cli()
    if not (seed_index / "CURRENT").exists():
        timed(rag + ["index", "--seeds", str(REPO / "seeds"), "--index", str(seed_index)])
    note = seeds / "zz-bench-note.md"
    note.unlink(missing_ok=True)
    timed(rag + ["index", "--seeds", str(seeds), "--index", str(index)])  # settle
    ask = rag + ["ask", QUESTION, "--json"]
    rows: dict[str, list[float]] = {"ask, seed article": [], f"ask, {args.files:,} files": [],
                                    f"index, one file added to {args.files:,}": [], "index, that file removed": []}
    keys = list(rows)
    before = None
    if args.before:
        before = extract(args.before, args.work / "before")
        rows[f"ask, {args.files:,} files, rag as of {args.before}"] = []
    load0 = load_line()
    for _ in range(args.runs):
        rows[keys[0]].append(timed(ask + ["--seeds", str(REPO / "seeds"), "--index", str(seed_index)]))
        rows[keys[1]].append(timed(ask + ["--seeds", str(seeds), "--index", str(index)]))
        if before is not None:
            rows[list(rows)[-1]].append(timed(ask + ["--seeds", str(seeds), "--index", str(index)], before))
        note.write_text(NOTE.replace("Tuesday", f"Tuesday {time.time_ns()}"), encoding="utf-8")
        rows[keys[2]].append(timed(rag + ["index", "--seeds", str(seeds), "--index", str(index)]))
        note.unlink()
        rows[keys[3]].append(timed(rag + ["index", "--seeds", str(seeds), "--index", str(index)]))
    out = {k: {"median_s": statistics.median(v), "runs": v} for k, v in rows.items()}
    out["load"] = [load0, load_line()]
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{args.runs} runs each, interleaved; {load0} -> {load_line()}; {os.cpu_count()} CPUs")
    print(markdown_table(["command", "median", "min", "max"],
                         [(k, f"{statistics.median(v):.2f} s", f"{min(v):.2f} s", f"{max(v):.2f} s")
                          for k, v in rows.items()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
