"""Load and faults of `rag serve`: throughput and latency of POST /search under concurrent clients,
next to the in-process search cost; updates during load; memory; kill -9 during an update.

    .venv/bin/python bench/serve_load.py [--docs N] [--seconds S] [--work DIR] [--out FILE]

Steps (each side in its own process: the server, the load generator, the in-process baseline):
  1. seeds: one .txt per SciFact abstract (``--docs`` of them, default all 5,183) and its index
     (built once with `rag index`, kept in ``--work``; a folder left by an earlier run is put back to
     the corpus and its index updated incrementally);
  2. in-process: Retriever.search over the SciFact test questions one at a time (hybrid, k=10);
  3. `rag serve` on a free loopback port; an async httpx client in another process keeps 1, 8 and
     32 requests in flight for ``--seconds`` each: requests/s, p50, p99, failures;
  4. during 8-client load, 10 updates in a row (a file added, one changed, one deleted; POST /index;
     wait for the new version): failed requests, and every response checked against the files of the
     version it names (each hit's source is in that version; k hits, ranks 1..k); server RSS before
     and after;
  5. kill -9 of the server while an update embeds 200 new files; restart: seconds until /health and
     the first search answer, and `rag status --verify` on the index.
Not part of the test suite; the machine is shared, so figures are indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from harness import BENCH, PY, REPO, SCIFACT, free_port, proc_status_mb
from rag import Retriever
from rag.evaluation import beir
from rag.evaluation.metrics import percentile


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("HF_HUB_OFFLINE", "1")
    return e


def questions() -> list[str]:
    """SciFact's test questions."""
    return list(beir.load(SCIFACT, "test").queries.values())


def ms(seconds: list[float], p: float) -> float:
    """The p-th percentile of ``seconds``, in milliseconds."""
    return percentile(seconds, p) * 1e3 if seconds else float("nan")


# ----------------------------------------------------------------------------- workers
def inproc_worker(index: str) -> None:
    r = Retriever.open(index)
    qs = questions()
    r.search(qs[0], k=10)
    lat = []
    for q in qs:
        t = time.perf_counter()
        r.search(q, k=10, mode="hybrid")
        lat.append(time.perf_counter() - t)
    print(json.dumps({"n": len(lat), "p50_ms": ms(lat, 50), "p99_ms": ms(lat, 99),
                      "per_s_one_thread": len(lat) / sum(lat)}))


async def _load(url: str, clients: int, seconds: float, record: str | None, stop_file: str | None) -> dict:
    qs = questions()
    lat: list[float] = []
    failures: list[str] = []
    records = []
    deadline = time.monotonic() + seconds

    async def one(c: httpx.AsyncClient, i: int) -> None:
        n = i
        while time.monotonic() < deadline and not (stop_file and os.path.exists(stop_file)):
            q = qs[n % len(qs)]
            n += clients
            t = time.perf_counter()
            try:
                r = await c.post(url + "/search", json={"question": q, "k": 10})
                dt = time.perf_counter() - t
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text[:200]}")
                    continue
                lat.append(dt)
                if record:
                    b = r.json()
                    records.append({"version": b["version"], "ranks": [h["rank"] for h in b["hits"]],
                                    "sources": [h["source"] for h in b["hits"]]})
            except httpx.HTTPError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(c, i) for i in range(clients)))
        wall = time.perf_counter() - t0
    if record:
        Path(record).write_text(json.dumps(records))
    return {"clients": clients, "requests": len(lat), "failed": len(failures), "rps": len(lat) / wall,
            "p50_ms": ms(lat, 50), "p99_ms": ms(lat, 99), "failures_sample": failures[:3]}


def load_worker(url: str, clients: int, seconds: float, record: str | None, stop_file: str | None) -> None:
    print(json.dumps(asyncio.run(_load(url, clients, seconds, record, stop_file))))


# ----------------------------------------------------------------------------- orchestration
def prepare(work: Path, docs: int) -> tuple[Path, Path]:
    """The seeds folder as the corpus has it (a folder left by an earlier run is put back: its
    updates' files removed, changed and deleted abstracts restored) and its index, updated
    incrementally (built the first time)."""
    seeds, index = work / "seeds", work / "index"
    seeds.mkdir(parents=True, exist_ok=True)
    want = {}
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= docs:
                break
            d = json.loads(line)
            want[f"{d['_id']}.txt"] = f"{d.get('title', '')}\n\n{d['text']}\n"
    for p in seeds.iterdir():
        if p.name not in want:
            p.unlink()
    for name, text in want.items():
        p = seeds / name
        if not p.exists() or p.read_text(encoding="utf-8") != text:
            p.write_text(text, encoding="utf-8")
    t = time.perf_counter()
    subprocess.run([PY, "-m", "rag", "index", "--seeds", str(seeds), "--index", str(index)], env=env(), check=True)
    print(f"the index of {len(want)} abstracts is up to date in {time.perf_counter() - t:.0f}s", file=sys.stderr)
    return seeds, index


def start_server(seeds: Path, index: Path, port: int):
    proc = subprocess.Popen([PY, "-m", "rag", "serve", "--seeds", str(seeds), "--index", str(index), "--port", str(port),
                             "--no-mcp"], env=env(), stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(url: str, timeout: float = 300) -> float:
    t = time.perf_counter()
    while time.perf_counter() - t < timeout:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return time.perf_counter() - t
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("server not ready")


def wait_update(url: str, before: str, timeout: float = 600) -> str:
    t = time.perf_counter()
    while time.perf_counter() - t < timeout:
        st = httpx.get(url + "/status", timeout=30).json()
        if st["update"]["state"] != "updating" and st["version"] != before:
            return st["version"]
        if st["update"]["state"] == "failed":
            raise RuntimeError(st["update"]["last_error"])
        time.sleep(0.1)
    raise RuntimeError("update did not finish")


def version_files(index: Path) -> dict[str, set[str]]:
    out = {}
    for v in index.glob("v-*"):
        try:
            m = json.loads((v / "manifest.json").read_text(encoding="utf-8"))
            out[v.name] = set(m["meta"]["files"])
        except (OSError, KeyError, ValueError):
            pass
    return out


def run_load(url: str, clients: int, seconds: float, record: str | None = None, stop_file: str | None = None,
             background: bool = False):
    cmd = [PY, __file__, "--load", url, str(clients), str(seconds), record or "", stop_file or ""]
    if background:
        return subprocess.Popen(cmd, env=env(), stdout=subprocess.PIPE, text=True)
    return json.loads(subprocess.run(cmd, env=env(), capture_output=True, text=True, check=True).stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=10**9)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--work", type=Path, default=BENCH / "out" / "serve_load")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    seeds, index = prepare(a.work, a.docs)
    res: dict = {"docs": len(list(seeds.glob("*.txt"))), "cpus": os.cpu_count()}
    res["in_process"] = json.loads(subprocess.run([PY, __file__, "--inproc", str(index)], env=env(), capture_output=True,
                                                  text=True, check=True).stdout)
    print("in-process:", res["in_process"], file=sys.stderr)

    port = free_port()
    proc, url = start_server(seeds, index, port)
    res["server_ready_s"] = wait_ready(url)
    httpx.post(url + "/search", json={"question": "warm up", "k": 10}, timeout=120)
    res["rss_start_mb"] = proc_status_mb("VmRSS", proc.pid)
    res["load"] = []
    for c in (1, 8, 32):
        r = run_load(url, c, a.seconds)
        res["load"].append(r)
        print("load:", r, file=sys.stderr)
    res["rss_after_load_mb"] = proc_status_mb("VmRSS", proc.pid)

    # 10 updates in a row under 8-client load
    record, stop_file = str(a.work / "records.json"), str(a.work / "stop")
    Path(stop_file).unlink(missing_ok=True)
    gen = run_load(url, 8, 3600, record, stop_file, background=True)
    time.sleep(2)
    # the corpus's own files only: a work folder used before holds zz-added-* files of that run
    names = sorted(p.name for p in seeds.glob("*.txt") if not p.name.startswith("zz-added-"))
    qs = questions()
    versions = [httpx.get(url + "/status", timeout=30).json()["version"]]
    snap = version_files(index)
    upd_s = []
    for i in range(10):
        (seeds / f"zz-added-{i}.txt").write_text(f"{qs[i]}\n\n{qs[i]} {qs[i + 10]}\n", encoding="utf-8")  # added
        changed = seeds / names[i]
        changed.write_text(changed.read_text(encoding="utf-8") + f"\n{qs[i + 20]}\n", encoding="utf-8")  # changed
        (seeds / names[-1 - i]).unlink()  # deleted
        t = time.perf_counter()
        httpx.post(url + "/index", timeout=30)
        versions.append(wait_update(url, versions[-1]))
        snap.update(version_files(index))  # each version's files, read while it is current
        upd_s.append(time.perf_counter() - t)
    time.sleep(2)
    Path(stop_file).write_text("stop")
    out, _ = gen.communicate(timeout=120)
    during = json.loads(out)
    files = {**snap, **version_files(index)}
    records = json.loads(Path(record).read_text())
    inconsistent = unknown = 0
    seen_versions = set()
    for rec in records:
        vf = files.get(rec["version"])
        seen_versions.add(rec["version"])
        if vf is None:
            unknown += 1  # a version collected since (kept: current and previous only)
            continue
        if any(s not in vf for s in rec["sources"]) or rec["ranks"] != list(range(1, len(rec["ranks"]) + 1)) \
                or len(rec["ranks"]) != 10:
            inconsistent += 1
    res["updates_under_load"] = {
        "updates": len(upd_s), "update_s_p50": statistics.median(upd_s), "update_s_max": max(upd_s),
        "requests": during["requests"], "failed": during["failed"], "rps": during["rps"], "p50_ms": during["p50_ms"],
        "p99_ms": during["p99_ms"], "versions_answering": len(seen_versions), "checked": len(records) - unknown,
        "inconsistent": inconsistent, "unchecked_versions_gone": unknown, "failures_sample": during["failures_sample"],
    }
    print("updates under load:", res["updates_under_load"], file=sys.stderr)
    res["rss_after_updates_mb"] = proc_status_mb("VmRSS", proc.pid)

    # kill -9 during an update
    for i in range(200):
        (seeds / f"zz-kill-{i}.txt").write_text(f"{qs[i % len(qs)]} batch {i}\n\n{qs[(i * 7) % len(qs)]}\n", encoding="utf-8")
    before = httpx.get(url + "/status", timeout=30).json()["version"]
    httpx.post(url + "/index", timeout=30)
    t = time.perf_counter()
    while time.perf_counter() - t < 120:
        st = httpx.get(url + "/status", timeout=30).json()["update"]
        if st["stage"] in ("embedding", "writing"):
            break
        time.sleep(0.05)
    stage = st["stage"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    t = time.perf_counter()
    proc, url = start_server(seeds, index, free_port())
    ready = wait_ready(url)
    first = httpx.post(url + "/search", json={"question": qs[0], "k": 10}, timeout=120)
    first_s = time.perf_counter() - t
    verify = subprocess.run([PY, "-m", "rag", "status", "--verify", "--seeds", str(seeds), "--index", str(index)], env=env(),
                            capture_output=True, text=True)
    res["kill9"] = {"killed_in_stage": stage, "version_before": before, "version_after": first.json().get("version"),
                    "restart_to_health_s": ready, "restart_to_first_answer_s": first_s, "first_status": first.status_code,
                    "verify_rc": verify.returncode, "verify_line": next((x for x in verify.stdout.splitlines() if x.startswith("verified")), verify.stderr.strip())}
    print("kill -9:", res["kill9"], file=sys.stderr)
    proc.terminate()
    proc.wait(30)
    for p in seeds.glob("zz-kill-*.txt"):
        p.unlink()
    text = json.dumps(res, indent=2)
    print(text)
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--inproc"]:
        inproc_worker(sys.argv[2])
    elif sys.argv[1:2] == ["--load"]:
        load_worker(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5] or None, sys.argv[6] or None)
    else:
        main()
