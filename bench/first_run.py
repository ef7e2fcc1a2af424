"""First run and cold `rag ask` (issue 10, item 6), measured the way a user meets them.

    python bench/first_run.py ui [--runs N]        # fresh clone: UI start -> first answer shown
    python bench/first_run.py ask-fresh [--runs N] # fresh clone: `rag ask` (builds, then answers)
    python bench/first_run.py ask-cold [--runs N]  # built seed index, export cached: cold `rag ask`

A "fresh clone" is a new folder holding seeds/ with the seed article, no index, and an empty user
cache (RAG_CACHE_DIR), so the query encoder has never been exported. "ui" runs the terminal UI
headless (``App.run_test``), types the participants question as soon as the UI is ready (Textual's
``Ready``: the first frame is on screen) and reports the seconds from then until the answer card is
filled; then it waits for the detached export to finish and reports whether it is in the cache.
Prints one JSON line per run and a summary line (median). To compare with another checkout, run
this file with that checkout first on PYTHONPATH (e.g. ``PYTHONPATH=/path/to/other python
bench/first_run.py ui``); each run is a new process of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import QUESTION, REPO, SEED_ARTICLE


def fresh_clone(base: Path) -> tuple[Path, Path, Path]:
    seeds = base / "seeds"
    seeds.mkdir(parents=True)
    shutil.copy(SEED_ARTICLE, seeds / SEED_ARTICLE.name)
    return seeds, base / "index", base / "cache"


def ui_child(seeds: str, index: str) -> None:
    """Runs in its own process: the UI on a fresh clone, headless."""
    import asyncio  # the UI child's imports: timed as part of its start, not the parent's

    from textual import events

    from tui.app import make_app

    app = make_app(index, seeds)
    stamp: dict[str, float] = {}

    def hook(message) -> None:
        if isinstance(message, events.Ready) and "ready" not in stamp:
            stamp["ready"] = time.perf_counter()
        name = type(message).__name__  # the build's stages, for the breakdown
        if name == "BuildProgressed":
            stamp.setdefault(f"stage_{message.stage}", time.perf_counter())
        elif name in ("BuildFinished", "IndexOpened"):
            stamp.setdefault(name, time.perf_counter())

    async def go() -> None:
        async with app.run_test(headless=True, size=(100, 32), message_hook=hook) as pilot:
            while "ready" not in stamp:
                await asyncio.sleep(0.005)
            box = app.question_box
            box.focus()
            box.value = QUESTION
            await pilot.press("enter")
            while "first_answer" not in app.timings:
                await asyncio.sleep(0.005)
            ex = app.exchanges[-1]
            top = ex.hits[0] if ex.hits else None
            ru = resource.getrusage(resource.RUSAGE_SELF)
            t0 = stamp["ready"]
            sys.stdout.write(json.dumps({
                "ready_to_answer_s": round(app.timings["first_answer"] - t0, 3),
                "top_line": top.line_start if top else None,
                # seconds after Ready at which each build stage began, the build ended, the index opened
                "breakdown": {k: round(v - t0, 3) for k, v in sorted(stamp.items(), key=lambda kv: kv[1])
                              if k != "ready"},
                "ready_after_start_s": round(t0 - app.timings["created"], 3),
                "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),  # the whole UI process, imports included
                "torch_imported": "torch" in sys.modules,
            }) + "\n")
            sys.stdout.flush()
            os._exit(0)

    asyncio.run(go())


def wait_for_export(cache: Path, timeout: float = 300.0) -> float | None:
    """Seconds until the sidecar of an export appears in the cache (None: not within the timeout)."""
    t = time.perf_counter()
    while time.perf_counter() - t < timeout:
        if list((cache / "encoders").glob("*.json")) and not list((cache / "encoders").glob(".tmp-*")):
            return time.perf_counter() - t
        time.sleep(0.2)
    return None


def run_ui(runs: int) -> list[dict]:
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            seeds, index, cache = fresh_clone(Path(tmp))
            env = {**os.environ, "RAG_CACHE_DIR": str(cache)}
            t = time.perf_counter()
            p = subprocess.run([sys.executable, __file__, "_ui_child", str(seeds), str(index)],
                               capture_output=True, text=True, env=env, timeout=600)
            wall = time.perf_counter() - t
            if p.returncode != 0:
                raise SystemExit(p.stderr[-3000:])
            row = json.loads(p.stdout.strip().splitlines()[-1])
            row["process_s"] = round(wall, 3)
            row["index_has_encoders"] = (index / "encoders").exists()  # the old layout exported here
            # the current layout exports into the user cache; the old one never writes there, so
            # waiting for it would only run out the timeout
            after = None if row["index_has_encoders"] else wait_for_export(cache, timeout=30.0)
            row["export_done_after_exit_s"] = None if after is None else round(after, 1)
            out.append(row)
            print(json.dumps(row), flush=True)
    return out


def run_ask(runs: int, fresh: bool) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        seeds, index, cache = fresh_clone(Path(tmp))
        # `python -m` puts its working folder first on sys.path: run in the temporary folder, so that
        # PYTHONPATH (the checkout under test; this one by default) decides which rag answers.
        env = {**os.environ, "RAG_CACHE_DIR": str(cache), "PYTHONPATH": os.environ.get("PYTHONPATH") or str(REPO)}
        cmd = [sys.executable, "-m", "rag", "ask", QUESTION, "--index", str(index), "--seeds", str(seeds), "-k", "3"]
        if not fresh:  # build and export first, and warm the page cache
            subprocess.run([sys.executable, "-m", "rag", "index", "--index", str(index), "--seeds", str(seeds)],
                           check=True, env=env, capture_output=True, cwd=tmp)
            # A user's first `rag ask` writes the bytecode of the code it runs (__pycache__), and later
            # ones load it; with PYTHONDONTWRITEBYTECODE set here, every timed run would compile rag's
            # modules again (about 0.1 s of CPU). The warm-up run writes it, for the code under test.
            warm = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
            subprocess.run(cmd, check=True, env=warm, capture_output=True, cwd=tmp)
        for _ in range(runs):
            if fresh:
                shutil.rmtree(index, ignore_errors=True)
                shutil.rmtree(cache, ignore_errors=True)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp)
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if p.returncode != 0:
                raise SystemExit(p.stderr[-3000:])
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            row = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}  # cpu: user+sys of the process, all threads
            if fresh:
                after = wait_for_export(cache)
                row["export_done_after_exit_s"] = None if after is None else round(after, 1)
            out.append(row)
            print(json.dumps(row), flush=True)
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_ui_child":
        ui_child(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["ui", "ask-fresh", "ask-cold"])
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    if a.what == "ui":
        rows, key = run_ui(a.runs), "ready_to_answer_s"
    else:
        rows, key = run_ask(a.runs, fresh=a.what == "ask-fresh"), "wall_s"
    vals = [r[key] for r in rows]
    summary = {"what": a.what, "runs": len(vals), f"median_{key}": round(statistics.median(vals), 3),
               "min": min(vals), "max": max(vals)}
    if rows and "cpu_s" in rows[0]:
        summary["median_cpu_s"] = round(statistics.median(r["cpu_s"] for r in rows), 2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
