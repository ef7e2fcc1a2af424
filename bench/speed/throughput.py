"""Build throughput, rag vs a naive pipeline on the same passages, side by side in one run (issue 26).

    .venv/bin/python bench/speed/throughput.py [--base 100] [--chunk 100] [--rounds 4] [--json]

Each side is a long-lived child process, warmed on the first ``--base`` SciFact abstracts (not
timed). Then, ``--rounds`` times, the next ``--chunk`` abstracts are written as files (a title and
paragraphs of three sentences, :mod:`scifact_files`) and each side takes them in turn, the order
rotated every round:

* ``rag-int8``: ``build_index`` on the folder (an update: walk, change decision, reading,
  embedding with the int8 export, BM25, segment, calibration if due, publish), the default for a
  new index;
* ``rag-fp32``: the same with ``precision="fp32"`` (the ONNX Runtime fp32 export, as before);
* ``naive``: sentence-transformers ``encode`` in fp32 with default settings, then
  ``IndexFlatIP.add``, given the very texts rag embeds (each passage with its title header, read
  by rag's reader before its clock starts).

A side's figure is the median of its per-round seconds (the marginal cost of ``--chunk`` more
abstracts); its peak RSS is the child's VmHWM. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for harness

from harness import CHILD_ENV, PY, REPO, SCIFACT, cpu_name, load_line, markdown_table, proc_status_mb  # noqa: E402

SIDES = ("rag-int8", "rag-fp32", "naive")


# ------------------------------------------------------------------ the children
def worker(side: str, work: Path, base: int) -> None:
    """Read ``chunk SKIP N`` lines; answer each with one JSON line (seconds, passages, peak RSS)."""
    from scifact_files import abstracts, indexed_texts, write_folder

    seeds = work / "seeds"
    write_folder(seeds, abstracts(SCIFACT, base))
    if side == "naive":
        import faiss
        from sentence_transformers import SentenceTransformer

        from rag.embedding.model import default_model_dir

        model = SentenceTransformer(str(default_model_dir()), device="cpu")
        dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        index = faiss.IndexFlatIP(dim())
        index.add(model.encode(indexed_texts(seeds)))  # warm-up, not timed

        def step(names: list[str]) -> tuple[int, float]:
            texts = indexed_texts(seeds, names)  # given: the texts rag embeds, read before the clock
            t = time.perf_counter()
            index.add(model.encode(texts))
            return len(texts), time.perf_counter() - t
    else:
        from rag import build_index

        precision = side.split("-", 1)[1]
        index_dir = work / "index"
        build_index(seeds, index_dir, precision=precision)  # warm-up, not timed: the first build

        def step(names: list[str]) -> tuple[int, float]:
            t = time.perf_counter()
            stats = build_index(seeds, index_dir, precision=precision)
            return stats.embedded, time.perf_counter() - t
    print("@@READY", flush=True)
    for line in sys.stdin:
        _, skip, n = line.split()
        paths = write_folder(seeds, abstracts(SCIFACT, int(n), skip=int(skip)))
        passages, seconds = step([p.name for p in paths])
        print(json.dumps({"seconds": seconds, "passages": passages, "peak_rss_mb": round(proc_status_mb("VmHWM"), 1)}),
              flush=True)


# ------------------------------------------------------------------ the orchestrator
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=int, default=100, help="abstracts each side is warmed on (not timed)")
    ap.add_argument("--chunk", type=int, default=100, help="abstracts added per round")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--sides", default=",".join(SIDES))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.work, args.base)
        return 0
    sides = args.sides.split(",")
    load0 = load_line()
    with tempfile.TemporaryDirectory(prefix="rag-throughput-") as tmp:
        env = {**CHILD_ENV, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'bench' / 'speed'}"}
        env.setdefault("RAG_CACHE_DIR", str(Path.home() / ".cache" / "rag"))
        procs = {}
        for s in sides:
            (Path(tmp) / s).mkdir()
            procs[s] = subprocess.Popen([PY, __file__, "--worker", s, "--work", str(Path(tmp) / s), "--base",
                                         str(args.base)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                        text=True, bufsize=1, cwd=str(REPO))
        for s, p in procs.items():
            if p.stdout.readline().strip() != "@@READY":
                raise SystemExit(f"{s} did not start (exit {p.wait()})")
        runs: dict[str, list[dict]] = {s: [] for s in sides}
        for r in range(args.rounds):
            skip = args.base + r * args.chunk
            for s in sides[r % len(sides):] + sides[: r % len(sides)]:  # rotated: nobody always goes first
                procs[s].stdin.write(f"chunk {skip} {args.chunk}\n")
                procs[s].stdin.flush()
                line = procs[s].stdout.readline()
                if not line:
                    raise SystemExit(f"{s} ended early (exit {procs[s].wait()})")
                runs[s].append(json.loads(line))
                print(f"round {r + 1}: {s} {runs[s][-1]['seconds']:.1f} s ({runs[s][-1]['passages']} passages)",
                      file=sys.stderr, flush=True)
        for p in procs.values():
            p.stdin.close()
            p.wait()
    out = {"cpu": cpu_name(), "cores": os.cpu_count(), "load": [load0, load_line()], "chunk": args.chunk,
           "sides": {s: {"median_s": statistics.median(x["seconds"] for x in v), "seconds": [x["seconds"] for x in v],
                         "passages": v[0]["passages"], "peak_rss_mb": max(x["peak_rss_mb"] for x in v)}
                     for s, v in runs.items()}}
    if args.json:
        print(json.dumps(out))
        return 0
    naive = out["sides"].get("naive", {}).get("median_s")
    rows = [(s, f"{d['median_s']:.1f} s", f"{d['passages'] / d['median_s']:.1f}/s",
             f"{naive / d['median_s']:.2f}x" if naive else "", f"{d['peak_rss_mb']:.0f} MB")
            for s, d in out["sides"].items()]
    print(f"{args.chunk} more SciFact abstracts per round, {args.rounds} rounds, medians; {out['cpu']}, "
          f"{out['cores']} CPUs; {load0} -> {load_line()}")
    print(markdown_table(["side", "seconds", "passages/s", "vs naive", "peak RSS"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
