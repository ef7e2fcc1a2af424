"""Ray: embedding throughput with 1, 2 and 4 workers next to the local build, and scatter-gather
query latency at 1, 4 and 16 shards.

    PYTHONPATH=$PWD .venv/bin/python bench/ray_scale.py [--passages 512] [--index-passages 5000]

Starts its own one-node Ray cluster (``ray start --head --num-cpus 4 --block`` in a temporary
folder; stopped at the end). Embedding: the real model over N distinct passages (the seed
article's passages, numbered), timed end to end per run (actor start and model load included),
next to the local DocumentEncoder on the same texts (model loaded beforehand). Latency: an index of
synthetic passages built with the fake encoder (tests/fakes.py); median of 50 hybrid searches
(query encoding included, answers off), shards as Ray actors and, for comparison, in-process.
Prints one JSON object; nothing is asserted. Says which machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness import REPO as ROOT, free_port
from rag.documents.chunking import chunk
from rag.documents.files import iter_seed_files
from rag.documents.ingest import read_seed
from rag.embedding.document_encoder import DocumentEncoder
from rag.embedding.model import default_model_dir, word_pieces
from rag.indexing.build import build_index

sys.path.insert(0, str(ROOT / "tests"))  # tests/fakes.py: the fake encoder of the synthetic index
from fakes import FakeEncoder  # noqa: E402


def machine() -> str:
    gpu = "no GPU"
    try:
        r = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
        if r.returncode == 0 and r.stdout.strip():
            gpu = r.stdout.strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), {gpu}"


def texts(n: int) -> list[str]:
    files, _ = iter_seed_files(ROOT / "seeds")
    pieces = word_pieces(str(default_model_dir()))
    base = [p.text for f in files for p in chunk(read_seed(f).document, token_ends=pieces.token_ends, max_tokens=254)]
    return [f"{base[i % len(base)]} ({i})" for i in range(n)]


def synthetic_index(folder: Path, n: int) -> Path:
    words = [f"w{i}" for i in range(2000)]
    rng = np.random.default_rng(1)
    seeds = folder / "seeds"
    seeds.mkdir(parents=True)
    per_file = 100
    for f in range(n // per_file):
        paras = [" ".join(rng.choice(words, 30)) + "." for _ in range(per_file)]
        (seeds / f"f{f:04d}.txt").write_text("\n\n".join(paras) + "\n", encoding="utf-8")
    build_index(seeds, folder / "index", encoder=FakeEncoder(), export_query_encoder=False)
    return folder / "index"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=512)
    ap.add_argument("--index-passages", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=50)
    a = ap.parse_args()

    import ray  # rag's optional extra (pip install -e '.[ray]'): --help works without it

    from rag.distributed.embedding import RayEmbedder
    from rag.distributed.shards import ShardedSearcher

    out: dict = {"machine": machine(), "passages": a.passages}
    tx = texts(a.passages)
    enc = DocumentEncoder()
    enc.encode(tx[:8])  # load the model
    t = time.perf_counter()
    local = enc.encode(tx)
    out["local_passages_per_s"] = round(len(tx) / (time.perf_counter() - t), 1)
    out["local_encoder"] = enc.path_name

    tmp = tempfile.mkdtemp(prefix="rb", dir="/tmp")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    head = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head", "--port", str(port),
                             "--num-cpus", "4", "--temp-dir", tmp, "--object-store-memory", str(200 * 2**20),
                             "--node-ip-address", "127.0.0.1", "--include-dashboard", "false",
                             "--disable-usage-stats", "--block"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(240):
            try:
                ray.init(address=f"127.0.0.1:{port}", log_to_driver=False, logging_level="warning")
                break
            except (ConnectionError, RuntimeError):
                time.sleep(0.5)
        info = enc.info
        for w in (1, 2, 4):
            t = time.perf_counter()
            v = RayEmbedder(workers=w)(tx, info=info)
            dt = time.perf_counter() - t
            cos = float(np.min(np.sum(v * local, axis=1)))
            out[f"ray_{w}_workers_passages_per_s"] = round(len(tx) / dt, 1)
            out[f"ray_{w}_workers_min_cosine_vs_local"] = round(cos, 6)
        with tempfile.TemporaryDirectory() as d:
            index = synthetic_index(Path(d), a.index_passages)
            qs = [" ".join(f"w{j}" for j in np.random.default_rng(i).integers(0, 2000, 5)) for i in range(a.queries)]
            out["index_passages"] = a.index_passages
            for local_mode in (False, True):
                for n in (1, 4, 16):
                    s = ShardedSearcher(index, n, encoder=FakeEncoder(), local=local_mode)
                    s.search(qs[0], k=10, answers=False)
                    lat = []
                    for q in qs:
                        t = time.perf_counter()
                        s.search(q, k=10, answers=False)
                        lat.append(time.perf_counter() - t)
                    s.close()
                    key = "in_process" if local_mode else "ray_actors"
                    out[f"search_ms_{key}_{n}_shards_median"] = round(statistics.median(lat) * 1000, 2)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
