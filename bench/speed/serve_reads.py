"""A search beside clients reading a large document (issue 23's target: with 16 clients reading a
15 MB document, a search's p50 stays under 3x its idle p50).

    .venv/bin/python bench/speed/serve_reads.py [--clients 16] [--mb 15] [--searches 40]

Steps: the seed article's index (`rag index`, real model) in a temporary folder; then a text file of
``--mb`` MB joins the seeds folder (readable at ``GET /documents/big.txt`` like every seed; not
indexed, so the build stays short); `rag serve` on a free loopback port. A search client asks the
seed question ``--searches`` times one after another, idle; then again while ``--clients`` threads
read 50-line windows at random places of the big file without pause. Prints both p50s, their ratio,
the readers' requests/s and status codes, and the server's RSS. Nothing is asserted; the machine is
shared: the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for harness

import httpx  # noqa: E402

from harness import CHILD_ENV, QUESTION, REPO, SEED_ARTICLE, load_line, log, proc_status_mb, rag_cli  # noqa: E402
from speed.web_page import start_server  # noqa: E402


def big_text(path: Path, mb: float) -> int:
    """A text file of about ``mb`` MB of the seed article's lines, numbered; its line count."""
    lines = [line for line in SEED_ARTICLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    out, size, n = [], 0, 0
    while size < mb * 1e6:
        line = f"{n:07d} {lines[n % len(lines)]}\n"
        out.append(line)
        size += len(line.encode("utf-8"))
        n += 1
    path.write_text("".join(out), encoding="utf-8")
    return n


def search_times(url: str, n: int) -> list[float]:
    times = []
    with httpx.Client(base_url=url, timeout=120) as c:
        for _ in range(n):
            t = time.perf_counter()
            r = c.post("/search", json={"question": QUESTION, "k": 5})
            times.append(time.perf_counter() - t)
            r.raise_for_status()
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--mb", type=float, default=15.0)
    ap.add_argument("--searches", type=int, default=40)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="rag-reads-bench-"))
    seeds, index = work / "seeds", work / "index"
    seeds.mkdir()
    shutil.copy(SEED_ARTICLE, seeds / SEED_ARTICLE.name)
    log("building the index of the seed article")
    subprocess.run(rag_cli() + ["index", "--seeds", str(seeds), "--index", str(index)], env=CHILD_ENV, check=True,
                   cwd=REPO, stdout=subprocess.DEVNULL)
    total = big_text(seeds / "big.txt", args.mb)
    log(f"big.txt: {(seeds / 'big.txt').stat().st_size / 1e6:.1f} MB, {total:,} lines")
    proc, url = start_server(seeds, index)
    try:
        search_times(url, 5)  # warm: the model and the index are loaded
        idle = search_times(url, args.searches)
        stop = threading.Event()
        codes: dict[int, int] = {}
        lock = threading.Lock()

        def reader(seed: int) -> None:
            rng = random.Random(seed)
            with httpx.Client(base_url=url, timeout=120) as c:
                while not stop.is_set():
                    start = rng.randint(1, total - 50)
                    code = c.get("/documents/big.txt", params={"start": start, "end": start + 49}).status_code
                    with lock:
                        codes[code] = codes.get(code, 0) + 1

        threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(2.0)  # the readers are running (the first reads parse the file once)
        busy = search_times(url, args.searches)
        rss = proc_status_mb("VmRSS", proc.pid)
        stop.set()
        for t in threads:
            t.join(timeout=150)
        seconds = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    p_idle, p_busy = statistics.median(idle) * 1000, statistics.median(busy) * 1000
    reads = sum(codes.values())
    print(f"search p50 idle {p_idle:.1f} ms; beside {args.clients} clients reading a {args.mb:g} MB file "
          f"{p_busy:.1f} ms: {p_busy / p_idle:.2f}x (target < 3x)")
    print(f"readers: {reads:,} requests in {seconds:.1f} s ({reads / seconds:.0f}/s), status codes {dict(sorted(codes.items()))}; "
          f"server RSS {rss:.0f} MB")
    print(load_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
