"""What the benchmarks share: where things are, child processes and their peak memory, timing,
medians, and printing a figure next to its baseline.

A benchmark is run as ``python bench/NAME.py``, which puts bench/ first on ``sys.path``, so it
imports this module as ``harness``. Importing it is cheap (no numpy, no model: the speed suite's
orchestrator, bench/run.py, measures its children's memory, not its own) and imports nothing of rag,
so that a benchmark can run another commit's rag (``extract``, ``code_env``) beside this one.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
PY = sys.executable
SCIFACT = Path(os.environ.get("RAG_BENCH_SCIFACT", "/work/shared/data/scifact"))
EVAL_INDEX = REPO / "indexes" / "beir-scifact"  # what `rag eval SCIFACT` builds
SEED_ARTICLE = REPO / "seeds" / "000_696ac6e15c916e66.txt"
QUESTION = "How many participants and observers are expected in Sochi?"  # answered by the seed article

CHILD_ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "PYTHONUNBUFFERED": "1",
}


# ------------------------------------------------------------------ the machine
def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def load_line() -> str:
    """"load average 1.2 0.9 0.8 on 2 CPUs", printed beside figures taken on a shared machine."""
    load = loadavg()
    if not load:
        return "load average unknown"
    return "load average " + " ".join(f"{x:.1f}" for x in load) + f" on {os.cpu_count()} CPUs"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def proc_status_mb(key: str, pid: int | str = "self") -> float:
    """``VmRSS`` / ``VmHWM`` of a process (this one by default), in MB; NaN where unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so a later VmHWM is the peak since now."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ child processes
def run_child(argv: list[str], *, timeout: float | None = None, env: dict | None = None, cwd: Path = REPO) -> dict:
    """Run a process; its wall time, exit code, output and peak RSS (``wait4``'s ru_maxrss).

    ru_maxrss of a child started from a small process is at least that process's own peak, which
    stays around 20-30 MB; workers also report their own VmHWM.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err, cwd=str(cwd), env=env or CHILD_ENV)
        timer = threading.Timer(timeout, p.kill) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            wall = time.perf_counter() - t0
            if timer:
                timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {
            "wall": wall,
            "rc": p.returncode,
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace"),
            "maxrss_mb": ru.ru_maxrss / 1024.0,
        }


def json_tail(r: dict, what: str) -> dict:
    """The JSON object on the last line a child printed; RuntimeError with its error's tail if it failed."""
    if r["rc"] != 0:
        raise RuntimeError(f"{what} failed (exit {r['rc']}): " + " ".join(r["stderr"].strip().splitlines()[-3:])[:600])
    return json.loads(r["stdout"].strip().splitlines()[-1])


RESULT_TAG = "@@RESULT "


def emit(result: dict) -> None:
    """A worker's last word: its result, with its own peak memory."""
    result.setdefault("vmhwm_mb", round(proc_status_mb("VmHWM"), 1))
    sys.stdout.write(RESULT_TAG + json.dumps(result) + "\n")
    sys.stdout.flush()


def worker_argv(name: str, params: dict, script: Path = BENCH / "run.py") -> list[str]:
    return [PY, str(script), "--worker", name, "--params", json.dumps(params)]


def run_worker(name: str, params: dict, *, timeout: float | None = None, env: dict | None = None,
               script: Path = BENCH / "run.py") -> dict:
    """Run worker ``name`` in a child process of ``script``; its result (with ``maxrss_mb`` and
    ``process_wall_s``)."""
    r = run_child(worker_argv(name, params, script), timeout=timeout, env=env)
    for line in reversed(r["stdout"].splitlines()):
        if line.startswith(RESULT_TAG):
            res = json.loads(line[len(RESULT_TAG):])
            res["maxrss_mb"] = round(r["maxrss_mb"], 1)
            res["process_wall_s"] = round(r["wall"], 3)
            return res
    tail = "\n".join(r["stderr"].strip().splitlines()[-15:])
    raise RuntimeError(f"worker {name} failed (exit {r['rc']}):\n{tail}")


def rag_cli() -> list[str]:
    exe = Path(PY).parent / "rag"
    return [str(exe)] if exe.exists() else [PY, "-m", "rag"]


# ------------------------------------------------------------------ another commit's code
def extract(ref: str, dest: Path, paths: tuple[str, ...] = ("rag",)) -> Path:
    """``paths`` of commit ``ref`` (``git archive``) in a fresh folder ``dest``, to put first on PYTHONPATH."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    data = subprocess.run(["git", "-C", str(REPO), "archive", ref, *paths], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def code_env(root: Path | None = None, base: dict | None = None) -> dict:
    """``base`` (CHILD_ENV) with ``root`` (a checkout's rag/, default this one) first on PYTHONPATH,
    bytecode caching on (as an installed package has it) and no RAG_* settings of the caller."""
    env = {k: v for k, v in (base or CHILD_ENV).items() if not k.startswith("RAG_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(root or REPO)
    return env


# ------------------------------------------------------------------ timing
def times_of(fn: Callable[[], object], repeat: int, clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Seconds of each of ``repeat`` calls of ``fn``."""
    out = []
    for _ in range(repeat):
        t = clock()
        fn()
        out.append(clock() - t)
    return out


def best_of(fn: Callable[[], object], repeat: int = 3, clock: Callable[[], float] = time.perf_counter) -> float:
    return min(times_of(fn, repeat, clock))


def median_of(fn: Callable[[], object], repeat: int = 5) -> float:
    return statistics.median(times_of(fn, repeat))


# ------------------------------------------------------------------ figures side by side
def fmt(x, spec: str = "{:.2f}", none: str = "–") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return none
    return spec.format(x)


def mb(*xs) -> str:
    return " / ".join(fmt(x, "{:.0f}") for x in xs) + " MB"


def met(flag: bool | None) -> str:
    return "–" if flag is None else ("**yes**" if flag else "**NO**")


def markdown_table(head: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(baseline: float | None, ours: float | None) -> str:
    """How many times the baseline's figure is ours ("2.10x"), for a time or a size; "" without both."""
    if not baseline or not ours:
        return ""
    return f"{baseline / ours:.2f}x"


# ------------------------------------------------------------------ a retriever, varied
def with_calibration(retriever, calibration):
    """A retriever on the same version and query encoder whose searches score their confidence with
    ``calibration`` (anything with ``probability(x)``), as ``Retriever.with_settings`` varies settings."""
    out = copy.copy(retriever)
    out.view = dataclasses.replace(retriever.view, calibration=calibration)
    return out
