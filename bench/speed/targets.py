"""targets: issue 10's target table, each figure next to the code before it (``--before``, default
49e74e6, extracted with ``git archive``; its rag/ and tui/ first on PYTHONPATH):

* one 3-paragraph file added to / removed from a 1M-passage index (bench/incremental.py; 100k with
  --quick; the base index is built once and kept under OUT, its build time is the full-rebuild
  baseline);
* one file added to / removed from a 20,000-file real index (bench/incremental_real.py);
* the first `rag chat` on a fresh clone (bench/first_run.py ui: fresh RAG_CACHE_DIR, no index) and
  cold `rag ask` on the built seed index (bench/first_run.py ask-cold);
* SciFact hybrid nDCG@10 from `rag eval --json` when indexes/beir-scifact is built (not built here:
  it takes many minutes).
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import median

from harness import BENCH, EVAL_INDEX, PY, SCIFACT, code_env, extract, json_tail, loadavg, log, met, rag_cli, run_child

TITLE = "Issue-10 targets"
WORKERS: dict = {}


def run(args, work: Path) -> dict:
    out_dir = Path(args.out)
    codes: list[tuple[str, Path | None]] = [("now", None)]
    if args.before:
        codes.append(("before", extract(args.before, work / "before-code", paths=("rag", "tui"))))
    res: dict = {"before_ref": args.before, "load": []}
    n = 100_000 if args.quick else 1_000_000
    log(f"targets: add/remove one file on {n:,} passages (base index built once, kept in {out_dir})")
    r = run_child([PY, str(BENCH / "incremental.py"), "--n", str(n), "--out", str(out_dir), "--json"],
                  timeout=6 * 3600, env=code_env())
    res["scale"] = json_tail(r, "bench/incremental.py")
    res["load"].append(loadavg())
    runs = 3 if args.quick else 5
    log("targets: add/remove one file on a 20,000-file index, now vs before")
    argv = [PY, str(BENCH / "incremental_real.py"), "--runs", str(runs), "--work", str(out_dir / "incremental_real"),
            "--json"]
    if args.before:
        argv += ["--before", args.before]
    res["real20k"] = json_tail(run_child(argv, timeout=3 * 3600, env=code_env()), "bench/incremental_real.py")
    res["load"].append(loadavg())
    for what, key in (("ui", "first_chat"), ("ask-cold", "cold_ask")):
        for label, root in codes:
            log(f"targets: first_run.py {what} ({label})")
            r = run_child([PY, str(BENCH / "first_run.py"), what, "--runs", str(runs)], timeout=3600, env=code_env(root))
            try:
                res.setdefault(key, {})[label] = json_tail(r, f"bench/first_run.py {what} ({label})")
            except (RuntimeError, ValueError, IndexError) as exc:
                if label == "now":
                    raise
                res[key][label + "_error"] = str(exc)[:300]  # the old code may lack what the script drives
            res["load"].append(loadavg())
    if (EVAL_INDEX / "CURRENT").exists():
        log("targets: rag eval (hybrid) on SciFact")
        r = run_child(rag_cli() + ["eval", str(SCIFACT), "--mode", "hybrid", "--index", str(EVAL_INDEX), "--json"],
                      timeout=3600, env=code_env())
        res["scifact"] = json_tail(r, "rag eval")
    else:
        res["scifact"] = {"skipped": f"{EVAL_INDEX} is not built (run `rag eval {SCIFACT}` once)"}
    return res


def rows(t: dict) -> list[tuple]:
    out = []
    sc = t["scale"]
    add, rm = median(sc["add_s"]), median(sc["remove_s"])
    out.append((f"Add one 3-paragraph file to {sc['n']:,} passages (backend, median of {len(sc['add_s'])})",
                f"{add:.3f} s", f"{sc['rebuild_s']:.0f} s (full rebuild)", f"{sc['rebuild_s'] / add:,.0f}x",
                "<= 2 s", met(add <= 2.0), ""))
    out.append((f"Remove it ({sc['n']:,} passages)", f"{rm:.3f} s", f"{sc['rebuild_s']:.0f} s (full rebuild)",
                f"{sc['rebuild_s'] / rm:,.0f}x", "<= 2 s", met(rm <= 2.0), ""))
    now, bef = t["real20k"]["after"], t["real20k"].get("before")
    for k, name in (("add_s", "Add one file to a 20,000-file index (`build_index`)"), ("remove_s", "Remove it again")):
        out.append((f"{name}, median of {len(now[k])}", f"{median(now[k]):.2f} s",
                    f"{median(bef[k]):.2f} s ({t['before_ref']})" if bef else "–",
                    f"{median(bef[k]) / median(now[k]):.1f}x" if bef else "", "<= 1 s" if k == "add_s" else "",
                    met(median(now[k]) <= 1.0) if k == "add_s" else "", ""))
    for key, name, field, target in (
        ("first_chat", "First `rag chat` on a fresh clone: UI ready -> first answer", "median_ready_to_answer_s", 3.0),
        ("cold_ask", "Cold `rag ask` on the built seed index", "median_wall_s", 0.4),
    ):
        now, bef = t[key]["now"], t[key].get("before")
        out.append((f"{name} (median of {now['runs']})", f"{now[field]:.2f} s ({now['min']:.2f}-{now['max']:.2f})",
                    f"{bef[field]:.2f} s ({t['before_ref']})" if bef else "–",
                    f"{bef[field] / now[field]:.1f}x" if bef else "", f"<= {target} s", met(now[field] <= target), ""))
    sf = t.get("scifact", {})
    nd = ((sf.get("modes") or {}).get("hybrid") or {}).get("ndcg@10")
    out.append(("SciFact hybrid nDCG@10 (`rag eval`)", f"{nd:.4f}" if nd is not None else sf.get("skipped", json.dumps(sf)[:120]),
                "0.7302 (README)", "", ">= 0.730", met(nd >= 0.730) if nd is not None else "", ""))
    out.append(("  load average during the targets (1, 5, 15 min)", "; ".join(map(str, t.get("load", []))),
                "", "", "", "", ""))
    return out
