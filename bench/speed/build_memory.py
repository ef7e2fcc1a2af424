"""Peak memory (and time) of a first build of 100,000 passages, as `rag index` builds it, side by side
with another commit's rag (issue 26: "peak memory of a 100,000-passage build no higher than today's").

    .venv/bin/python bench/speed/build_memory.py [--passages 100000] [--precision fp32] [--before REF]
                                                 [--synthetic] [--json]

The folder is bench/synthetic.py's notes (one short paragraph each, so one passage each; 1,000 to a
subfolder), written once under ``--work``. Each side is a fresh process that runs ``build_index``
into a new index with the real model (the precision given; the default, fp32, is what a new index
gets); its peak RSS is the child's ``ru_maxrss``. Sides run one after the other (a build takes
minutes), the current code first. Each side also reports when its build's stages ended (from the
build's progress callback): reading, embedding, writing (the segment: HNSW at 100,000 rows, BM25,
payloads; and the confidence model's fit, and the publish). ``--synthetic`` embeds with
bench/synthetic.py's encoder instead of the model, to time the stages around embedding (and
their memory) in a minute or so. Nothing is asserted.
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
import json, sys, time
from rag import build_index
import rag.indexing.build as b
ends = {}
def progress(stage, done, total):
    ends[stage] = round(time.perf_counter() - t, 1)
encoder = None
if sys.argv[4] == "synthetic":
    sys.path.insert(0, sys.argv[5])
    from synthetic import SyntheticEncoder
    from rag.embedding import model
    info = model.model_info(model.default_model_dir())
    encoder = SyntheticEncoder(info, model.word_pieces(str(info.path)))
t = time.perf_counter()
s = build_index(sys.argv[1], sys.argv[2], precision=sys.argv[3], encoder=encoder, progress=progress)
print(s.passages, s.embedded, round(time.perf_counter() - t, 1), b.__file__, json.dumps(ends, separators=(",", ":")))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passages", type=int, default=100_000)
    ap.add_argument("--precision", default="fp32", choices=("fp32", "int8"))
    ap.add_argument("--before", metavar="REF", help="also build with rag/ as of this commit")
    ap.add_argument("--synthetic", action="store_true", help="embed with bench/synthetic.py's encoder (not the model)")
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
        r = run_child([PY, "-c", CHILD, str(seeds), str(index), args.precision,
                       "synthetic" if args.synthetic else "model", str(BENCH)], env=code_env(root, CHILD_ENV),
                      cwd=args.work)  # not the repository: `python -c` puts its folder first on sys.path
        if r["rc"] != 0:
            raise SystemExit(f"{name}: the build failed: {r['stderr'][-800:]}")
        passages, embedded, seconds, source, ends = r["stdout"].split()
        out[name] = {"passages": int(passages), "seconds": float(seconds), "wall_s": r["wall"],
                     "peak_rss_mb": r["maxrss_mb"], "code": str(Path(source).parents[2]), "stages_end_s": json.loads(ends)}
        print(f"{name}: {out[name]}", file=sys.stderr, flush=True)
    shutil.rmtree(args.work / "index", ignore_errors=True)
    if args.json:
        print(json.dumps({"load": [load0, load_line()], "precision": args.precision, "sides": out}))
        return 0
    how = "bench/synthetic.py's encoder" if args.synthetic else f"{args.precision} passages"
    print(f"first build of {args.passages:,} one-paragraph notes ({how}); {load0} -> {load_line()}")

    def stage(v: dict, name: str, before: str | None) -> str:
        ends = v["stages_end_s"]
        return f"{ends[name] - (ends[before] if before else 0):.0f} s" if name in ends else ""

    print(markdown_table(["rag", "passages", "build_index", "command", "passages/s", "peak RSS", "reading",
                          "embedding", "writing, fit, publish"],
                         [(k, f"{v['passages']:,}", f"{v['seconds']:.0f} s", f"{v['wall_s']:.0f} s",
                           f"{v['passages'] / v['seconds']:.0f}/s", f"{v['peak_rss_mb']:.0f} MB",
                           stage(v, "reading", None), stage(v, "embedding", "reading"),
                           f"{v['seconds'] - v['stages_end_s'].get('embedding', 0):.0f} s") for k, v in out.items()]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
