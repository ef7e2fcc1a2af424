"""rag on a real local Ray cluster: a head and a worker node started as separate processes on
127.0.0.1 (one CPU each, a small object store, session files in a temporary folder), shut down at
the end by stopping the two processes this module started.

* a distributed build (`rag index --ray ADDRESS`, the real model on the workers) equals a local build;
* a build whose embedding worker is killed mid-batch completes, nothing lost or doubled;
* a sharded search (shard actors) returns the same hits as the unsharded index.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from fakes import FakeEncoder  # noqa: E402
from ray_fakes import FakeFactory  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).parent / "ray")
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)  # the process group this module started
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)


@pytest.fixture(scope="module")
def cluster():
    """The address of a two-node cluster; this process is connected to it as a driver."""
    port = _free_port()
    tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths must stay < 108 chars
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
           "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--num-cpus", "1", "--object-store-memory", str(100 * 2**20), "--node-ip-address", "127.0.0.1",
              "--disable-usage-stats", "--block"]
    addr = f"127.0.0.1:{port}"
    procs = [subprocess.Popen([RAY, "start", "--head", "--port", str(port), "--temp-dir", tmp,
                               "--include-dashboard", "false", *common], env=env, stdout=subprocess.DEVNULL,
                              stderr=open(Path(tmp) / "head.log", "w"), start_new_session=True)]
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                ray.init(address=addr, log_to_driver=False, logging_level="warning")
                break
            except (ConnectionError, RuntimeError):
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    raise
                time.sleep(0.5)
        procs.append(subprocess.Popen([RAY, "start", "--address", addr, *common], env=env,
                                      stdout=subprocess.DEVNULL, stderr=open(Path(tmp) / "worker.log", "w"),
                                      start_new_session=True))
        while sum(n["Alive"] for n in ray.nodes()) < 2:
            assert time.monotonic() < deadline, "the worker node did not join"
            time.sleep(0.5)
        yield addr
    finally:
        if ray.is_initialized():
            ray.shutdown()
        _stop(procs)


def _by_text(index: Path) -> dict[str, np.ndarray]:
    from rag.index.local import LocalIndex

    with LocalIndex.open(index) as ix:
        vecs = ix.live_vectors()
        keys = [ix.payload_at(i)["text"] for i in range(ix.count())]
        assert len(set(keys)) == len(keys)
        return dict(zip(keys, vecs))


def _write_corpus(d: Path, n_files: int = 12) -> Path:
    words = ("harbour ship sail winter bread yeast cat dawn dusk river stone lamp garden tower bell "
             "salt wheat fox owl moon").split()
    rng = np.random.default_rng(7)
    d.mkdir(parents=True)
    for f in range(n_files):
        paras = ["\n".join(" ".join(rng.choice(words, 9)) + "." for _ in range(2)) for _ in range(3)]
        (d / f"doc{f:02d}.txt").write_text("\n\n".join(paras) + "\n", encoding="utf-8")
    return d


@pytest.mark.e2e
def test_cli_ray_build_equals_local_build(cluster, real_seeds, real_index, tmp_path):
    """`rag index --ray ADDRESS`: the real model on the cluster's workers; vectors as a local build's."""
    index = tmp_path / "ray-index"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "rag", "index", "--seeds", str(real_seeds), "--index", str(index),
                        "--ray", cluster], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "passages embedded with: ray-" in r.stderr
    local, dist = _by_text(real_index), _by_text(index)
    assert local.keys() == dist.keys() and len(local) > 3
    cos = [float(np.dot(local[t], dist[t]) / np.linalg.norm(local[t]) / np.linalg.norm(dist[t])) for t in local]
    assert min(cos) >= 0.9999


def test_build_survives_a_killed_worker(cluster, tmp_path):
    """The worker embedding a batch is killed (SIGKILL) mid-batch: Ray restarts it and retries the
    batch; the build publishes every passage exactly once, with the vectors of a local build."""
    from rag.distributed.embedding import RayEmbedder
    from rag.indexing.build import build_index

    seeds = _write_corpus(tmp_path / "seeds")
    marker = tmp_path / "marker"
    marker.mkdir()
    local = build_index(seeds, tmp_path / "local", encoder=FakeEncoder(), export_query_encoder=False)
    embedder = RayEmbedder(factory=FakeFactory(str(marker)), workers=2, batch_size=4)
    out: dict = {}

    def run():
        try:
            out["stats"] = build_index(seeds, tmp_path / "dist", encoder=FakeEncoder(), embedder=embedder,
                                       export_query_encoder=False)
        except BaseException as exc:  # reported by the assertion below
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 300
    while not list(marker.glob("pid.*")):
        assert time.monotonic() < deadline and t.is_alive(), out.get("error")
        time.sleep(0.05)
    victim = int(next(marker.glob("pid.*")).read_text())
    (marker / "killed").write_text("")
    os.kill(victim, signal.SIGKILL)
    t.join(300)
    assert not t.is_alive() and "error" not in out, out.get("error")
    stats = out["stats"]
    assert stats.embedded == local.embedded == local.passages == stats.passages
    a, b = _by_text(tmp_path / "local"), _by_text(tmp_path / "dist")
    assert a.keys() == b.keys()
    assert all(np.allclose(a[k], b[k], atol=1e-6) for k in a)
    with pytest.raises(ProcessLookupError):
        os.kill(victim, 0)  # the worker really died; its batch came back from the retry


def test_sharded_search_equals_unsharded(cluster, tmp_path):
    from rag.distributed.shards import ShardedSearcher
    from rag.indexing.build import build_index
    from rag.search.retriever import Retriever

    seeds = _write_corpus(tmp_path / "seeds", n_files=20)
    index = tmp_path / "index"
    build_index(seeds, index, encoder=FakeEncoder(), export_query_encoder=False)
    single = Retriever.open(index, encoder=FakeEncoder())
    sharded = ShardedSearcher(index, 3, encoder=FakeEncoder())
    try:
        for q in ("harbour ship in winter", "bread yeast", "owl moon fox tower", "salt"):
            for mode in ("hybrid", "dense", "bm25"):
                want = single.search(q, k=10, mode=mode, answers=False)
                got = sharded.search(q, k=10, mode=mode)
                assert [(h.row, h.source, h.char_start) for h in got] == [(h.row, h.source, h.char_start) for h in want]
                assert [h.score for h in got] == pytest.approx([h.score for h in want], rel=1e-6)
                assert [h.bm25_score for h in got] == pytest.approx([h.bm25_score for h in want], rel=1e-9)
    finally:
        sharded.close()
        single.index.close()
