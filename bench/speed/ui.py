"""ui: time from process start to the terminal UI's first frame, headless (bench/speed/ui_first_frame.py:
Textual's ``Ready``) and in a real pseudo-terminal (the header text written), on indexes/beir-scifact.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import statistics
import struct
import termios
import time
from pathlib import Path

from harness import BENCH, CHILD_ENV, EVAL_INDEX, PY, REPO, log, mb, met, run_child

TITLE = "UI first frame"
WORKERS: dict = {}
FIRST_FRAME = BENCH / "speed" / "ui_first_frame.py"
MARKER = "ask your documents"
_ANSI = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


def pty_first_frame(index: Path, seeds: Path, marker: bytes, timeout: float = 30.0) -> float | None:
    """Seconds from fork to ``marker`` appearing in what ``python -m tui`` writes to a 100x32 pty."""
    t0 = time.perf_counter()
    pid, fd = os.forkpty()
    if pid == 0:  # child
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 32, 100, 0, 0))
            os.chdir(REPO)
            env = {**CHILD_ENV, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "32"}
            os.execve(PY, [PY, "-m", "tui", "--index", str(index), "--seeds", str(seeds)], env)
        finally:
            os._exit(127)
    buf = b""
    found = None
    try:
        while time.perf_counter() - t0 < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
                if marker in _ANSI.sub(b"", buf):
                    found = time.perf_counter() - t0
                    break
    finally:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for _ in range(100):
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
            time.sleep(0.02)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    return found


def run(args, work: Path) -> dict:
    try:
        r = run_child([PY, "-c", "import tui.app"], timeout=60)
    except OSError as exc:
        return {"skipped": f"cannot start python: {exc}"}
    if r["rc"] != 0:
        return {"skipped": "tui is not importable: " + r["stderr"].strip().splitlines()[-1][:200]}
    seeds = REPO / "seeds"
    headless, pty_times = [], []
    argv = [PY, str(FIRST_FRAME), str(EVAL_INDEX), str(seeds)]
    run_child(argv, timeout=60)  # warm-up
    for i in range(args.ui_runs):
        t_spawn = time.time()
        r = run_child(argv, timeout=60)
        if r["rc"] != 0 or not r["stdout"].strip():
            raise RuntimeError(f"ui_first_frame failed: {r['stderr'][-800:]}")
        d = json.loads(r["stdout"].strip().splitlines()[-1])
        headless.append({"first_frame_s": d["ready"] - t_spawn, "to_main_s": d["main"] - t_spawn,
                         "rss_mb": r["maxrss_mb"]})
        pty_times.append(pty_first_frame(EVAL_INDEX, seeds, MARKER.encode()))
        log(f"ui: run {i + 1}/{args.ui_runs}: headless {headless[-1]['first_frame_s']:.3f} s, pty {pty_times[-1]}")
    ps = [x for x in pty_times if x is not None]
    return {
        "headless": {"median_s": statistics.median(x["first_frame_s"] for x in headless), "runs": headless,
                     "rss_mb": max(x["rss_mb"] for x in headless)},
        "pty": {"median_s": statistics.median(ps) if ps else None, "runs": pty_times, "marker": MARKER},
    }


def rows(ui: dict) -> list[tuple]:
    hs = ui["headless"]["median_s"]
    out = [(f"UI first frame from process start (headless run_test; median of {len(ui['headless']['runs'])})",
            f"{hs:.2f} s", "", "", "<= 0.5 s", met(hs <= 0.5), mb(ui["headless"]["rss_mb"]))]
    ps = ui["pty"]["median_s"]
    if ps is not None:
        out.append(("UI first frame in a real terminal (pty, header text written)", f"{ps:.2f} s", "", "",
                    "<= 0.5 s", met(ps <= 0.5), ""))
    return out
