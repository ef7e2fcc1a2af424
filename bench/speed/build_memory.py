"""Peak memory (and time) of a first build of 100,000 passages, as `rag index` builds it, side by side
with another commit's rag (issue 26: "peak memory of a 100,000-passage build no higher than today's").

    .venv/bin/python bench/speed/build_memory.py [--passages 100000] [--precision fp32] [--before REF] [--json]

The folder is bench/synthetic.py's notes (one short paragraph each, so one passage each; 1,000 to a
subfolder), written once under ``--work``. Each side is a fresh process that runs ``build_index``
into a new index with the real model (the precision given; the default, fp32, is what a new index
gets); its peak RSS is the child's ``ru_maxrss``. Sides run one after the other (a build takes
minutes), the current code first. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for harness and synthetic

from harness import BENCH, CHILD_ENV, PY, code_env, extract, load_line, markdown_table, run_child  # noqa: E402

CHILD = """
import sys, time
from rag import build_index
t = time.perf_counter()
import rag.indexing.build as b
s = build_index(sys.argv[1], sys.argv[2], precision=sys.argv[3])
print(s.passages, s.embedded, round(time.perf_counter() - t, 1), b.__file__)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passages", type=int, default=100_000)
    ap.add_argument("--precision", default="fp32", choices=("fp32", "int8"))
    ap.add_argument("--before", metavar="REF", help="also build with rag/ as of this commit")
    ap.add_argument("--work", type=Path, default=BENCH / "out" / "build_memory")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from synthetic import write_notes

    seeds = args.work / f"seeds-{args.passages}"
    if not seeds.is_dir():
        write_notes(seeds, args.passages)
    sides = {"this rag": None}
    if args.before:
        sides[f"rag as of {args.before}"] = extract(args.before, args.work / "before")
    load0, out = load_line(), {}
    for name, root in sides.items():
        index = args.work / "index"
        shutil.rmtree(index, ignore_errors=True)
        r = run_child([PY, "-c", CHILD, str(seeds), str(index), args.precision], env=code_env(root, CHILD_ENV),
                      cwd=args.work)  # not the repository: `python -c` puts its folder first on sys.path
        if r["rc"] != 0:
            raise SystemExit(f"{name}: the build failed: {r['stderr'][-800:]}")
        passages, embedded, seconds, source = r["stdout"].split()
        out[name] = {"passages": int(passages), "seconds": float(seconds), "wall_s": r["wall"],
                     "peak_rss_mb": r["maxrss_mb"], "code": str(Path(source).parents[2])}
        print(f"{name}: {out[name]}", file=sys.stderr, flush=True)
    shutil.rmtree(args.work / "index", ignore_errors=True)
    if args.json:
        print(json.dumps({"load": [load0, load_line()], "precision": args.precision, "sides": out}))
        return 0
    print(f"first build of {args.passages:,} one-paragraph notes ({args.precision} passages); {load0} -> {load_line()}")
    print(markdown_table(["rag", "passages", "build_index", "command", "passages/s", "peak RSS"],
                         [(k, f"{v['passages']:,}", f"{v['seconds']:.0f} s", f"{v['wall_s']:.0f} s",
                           f"{v['passages'] / v['seconds']:.0f}/s", f"{v['peak_rss_mb']:.0f} MB") for k, v in out.items()]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
