"""The speed benchmark: each figure next to its baseline, in one process tree and one sitting.

    .venv/bin/python bench/run.py [--quick] [--only SECTIONS] [--out bench/out]

writes ``OUT/results.json`` and ``OUT/results.md`` (a Markdown table: figure, rag, baseline, ratio,
target, met, peak RSS) and prints the table. Not part of the test suite. The sections, one module
each under bench/speed/ (``--only`` runs a subset):

  targets  issue 10's target table, each figure next to the code before it (``--before``)
  index    indexing throughput, rag's build path vs sentence-transformers + FAISS; nDCG@10 of both
  query    in-process query latency on indexes/beir-scifact vs sentence-transformers + FAISS, bm25s
  cold     a fresh `rag ask --json` vs a naive one-shot script (bench/speed/naive_ask.py)
  incr     `rag index` with no change, one file added, removed; the baseline is the full build
  scale    synthetic vectors at 100k and 1M: exact search vs rag's HNSW (and IVF-SQ8); BM25 at 100k
  ui       process start to the terminal UI's first frame

index, query, cold and ui use SciFact (``RAG_BENCH_SCIFACT``, default /work/shared/data/scifact);
query, cold and ui the index `rag eval` builds of it (indexes/beir-scifact). Every measurement runs
in a child process (this file with ``--worker``, or the ``rag`` CLI), so each one's peak RSS is its
own: the child reports its VmHWM, or ``wait4`` gives its ru_maxrss. This process imports nothing heavy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from harness import BENCH, PY, cpu_name, loadavg, log, markdown_table, proc_status_mb, run_child
from speed import cold, incr, indexing, query, scale, targets, ui

SECTIONS = {"targets": targets, "index": indexing, "query": query, "cold": cold, "incr": incr, "scale": scale,
            "ui": ui}
WORKERS = {name: fn for section in SECTIONS.values() for name, fn in section.WORKERS.items()}
BEFORE_REF = "49e74e6"  # the code before issue 10's architecture: the "previous code path" of the targets
HEAD = ("Figure", "rag", "Baseline", "Ratio", "Target", "Met", "Peak RSS (rag / baseline)")


def render(results: dict) -> str:
    """The results table (a row per figure, each section's rows in order), then the scale detail."""
    rows = []
    for name, section in SECTIONS.items():
        res = results["sections"].get(name)
        if res is None:
            continue
        if "error" in res or "skipped" in res:
            rows.append((section.TITLE, res.get("skipped") or res.get("error"), "", "", "", "", ""))
        else:
            rows.extend(section.rows(res))
    m = results["meta"]
    text = (f"Benchmark run {m['started']} on {m['cpu']} ({m['cores']} cores, "
            f"bf16: {'yes' if m['cpu_bf16'] else 'no'}), {'--quick' if m['quick'] else 'full'} run, "
            f"{m['minutes']:.1f} min; load average at start {m['load_start']}, end {m['load_end']}.\n\n"
            + markdown_table(HEAD, rows))
    sc = results["sections"].get("scale")
    if sc and "flat" in sc:
        text += "\n\n" + scale.detail(sc)
    return text + "\n\nReproduce: `" + m["command"] + "`\n"


def in_child(code: str):
    """What ``code`` prints as JSON, run in a child (heavy imports stay out of this process, whose
    peak memory every child's ru_maxrss includes); None if it fails."""
    r = run_child([PY, "-c", code], timeout=120)
    return json.loads(r["stdout"].strip().splitlines()[-1]) if r["rc"] == 0 else None


def write(out_dir: Path, results: dict) -> None:
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="500-document subset, 100k-vector scale, fewer repeats")
    ap.add_argument("--out", default=str(BENCH / "out"))
    ap.add_argument("--only", default="", help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})")
    ap.add_argument("--hnsw", action="append", default=[], metavar="M,EFC",
                    help="also build HNSW with these parameters in the scale section (repeatable)")
    ap.add_argument("--before", default=BEFORE_REF, metavar="REF",
                    help=f"the previous code for the targets section (default {BEFORE_REF}; '' for none)")
    ap.add_argument("--render", metavar="RESULTS_JSON", help="only re-render the table of an earlier run")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        WORKERS[args.worker](json.loads(args.params))
        return 0
    if args.render:
        md = render(json.loads(Path(args.render).read_text(encoding="utf-8")))
        Path(args.render).with_name("results.md").write_text(md, encoding="utf-8")
        print(md)
        return 0
    args.cold_runs = 3 if args.quick else 7
    args.incr_reps = 1 if args.quick else 3
    args.ui_runs = 3 if args.quick else 5
    args.scale_queries = 500 if args.quick else 1000
    only = [x.strip() for x in args.only.split(",") if x.strip()] or list(SECTIONS)
    bad = [x for x in only if x not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s) {bad}; choose from {', '.join(SECTIONS)}")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = ".venv/bin/python bench/run.py" + (" --quick" if args.quick else "") + (
        f" --only {args.only}" if args.only else "") + "".join(f" --hnsw {h}" for h in args.hnsw)
    t_start = time.perf_counter()
    results: dict = {
        "meta": {
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": cmd, "quick": args.quick, "cpu": cpu_name(), "cores": os.cpu_count(),
            "cpu_bf16": in_child("from rag.embedding.document_encoder import cpu_has_bf16; print(int(cpu_has_bf16()))"),
            "python": platform.python_version(), "load_start": loadavg(),
            "versions": in_child("import json, faiss, numpy, torch, sentence_transformers, bm25s; print(json.dumps("
                                 "{m.__name__: getattr(m, '__version__', '?') for m in "
                                 "(faiss, numpy, torch, sentence_transformers, bm25s)}))"),
        },
        "sections": {},
    }
    work = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    try:
        for name in only:
            log(f"== {name} (load {loadavg()})")
            t = time.perf_counter()
            load0 = loadavg()
            try:
                res = SECTIONS[name].run(args, work)
            except Exception as exc:  # one failing section must not lose the others; its error is in the table
                traceback.print_exc()
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                res = {"error": f"{type(exc).__name__}: {first}"[:300]}
            res["seconds"] = round(time.perf_counter() - t, 1)
            res["load_start"], res["load_end"] = load0, loadavg()
            results["sections"][name] = res
            results["meta"]["load_end"] = loadavg()
            results["meta"]["minutes"] = (time.perf_counter() - t_start) / 60
            write(out_dir, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["meta"]["orchestrator_vmhwm_mb"] = round(proc_status_mb("VmHWM"), 1)
    write(out_dir, results)
    md = render(results)
    (out_dir / "results.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
