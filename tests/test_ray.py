"""rag on a real local Ray cluster: a head and a worker node started as separate processes on
127.0.0.1 (one CPU each, a small object store, session files in a temporary folder), shut down at
the end by stopping the two processes this module started.

* a distributed build (`rag index --ray ADDRESS`: files read and chunked by Ray Data tasks, the real
  model on the workers) equals a local build, in full and incrementally (changed files only);
* a node that cannot see the seeds folder makes the build read on the driver, with a warning;
* a build whose embedding worker is killed mid-batch completes, nothing lost or doubled;
* a sharded search (shard actors) returns the same hits as the unsharded index.
"""

from __future__ import annotations

import os
import shutil
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


def _free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 now (held open together, so no two are the same)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _node_ports() -> list[str]:
    """Every port a node listens on, chosen free (Ray's fixed defaults clash with another cluster
    on the same machine, e.g. a second CI job)."""
    names = ("--node-manager-port", "--object-manager-port", "--metrics-export-port", "--runtime-env-agent-port",
             "--dashboard-agent-grpc-port", "--dashboard-agent-listen-port")
    return [a for name, port in zip(names, _free_ports(len(names))) for a in (name, str(port))]


# Runs `ray start ...` so that, on Linux, it gets SIGTERM when the test process dies however it dies
# (`ray start --block` then stops the node's processes): a killed CI job leaves no cluster behind.
# (A prctl in the child before exec, not subprocess's preexec_fn: this process has Ray's threads.)
# If the test process is already gone when the prctl is made, the child exits at once.
_DIE_WITH_PARENT = ("import ctypes, os, signal, sys\n"
                    "if sys.platform.startswith('linux'):\n"
                    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
                    "    if os.getppid() != int(sys.argv[1]):\n"
                    "        sys.exit(1)\n"
                    "os.execv(sys.argv[2], sys.argv[2:])")


def _ray_start(args: list[str], env: dict, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()), RAY, "start", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)


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
    """The address of a two-node cluster; this process is connected to it as a driver. Every port
    is chosen free, the session files go to a new temporary folder (removed at the end), and the
    two `ray start` processes are stopped at the end, on failure, or when this process dies."""
    if ray.is_initialized():  # another module's connection: this one needs its own cluster
        ray.shutdown()
    port, client_port = _free_ports(2)
    tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths must stay < 108 chars
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}  # no RAY_ADDRESS from outside
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]), RAY_USAGE_STATS_ENABLED="0")
    common = ["--num-cpus", "1", "--object-store-memory", str(100 * 2**20), "--node-ip-address", "127.0.0.1",
              "--disable-usage-stats", "--block"]
    addr = f"127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    logs = [open(Path(tmp) / name, "w") for name in ("head.log", "worker.log")]
    try:
        procs.append(_ray_start(["--head", "--port", str(port), "--ray-client-server-port", str(client_port),
                                 "--temp-dir", tmp, "--include-dashboard", "false", *_node_ports(), *common],
                                env, logs[0]))
        deadline = time.monotonic() + 180
        while True:
            try:
                ray.init(address=addr, log_to_driver=False, logging_level="warning")
                break
            except (ConnectionError, RuntimeError):
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    raise
                time.sleep(0.5)
        procs.append(_ray_start(["--address", addr, *_node_ports(), *common], env, logs[1]))
        while sum(n["Alive"] for n in ray.nodes()) < 2:
            assert time.monotonic() < deadline and procs[1].poll() is None, "the worker node did not join"
            time.sleep(0.5)
        yield addr
    finally:
        if ray.is_initialized():
            ray.shutdown()
        _stop(procs)
        for f in logs:
            f.close()
        shutil.rmtree(tmp, ignore_errors=True)


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


def _by_key(index: Path) -> dict[str, tuple[dict, np.ndarray]]:
    """Every passage of the index's current version: key -> (payload, vector), by key."""
    from rag.index.local import LocalIndex
    from rag.index.passages_io import passage_from_payload, passage_key

    with LocalIndex.open(index) as ix:
        out = {passage_key(passage_from_payload(p)): (p, ix.vector_at(i))
               for i, p in ((i, ix.payload_at(i)) for i in range(ix.count()))}
        assert sorted(out) == sorted(ix.keys_with_prefix(""))  # the stored keys are the passages' keys
        return dict(sorted(out.items()))


def _assert_same_index(local: Path, dist: Path) -> None:
    """The same passage keys and payloads, and vectors to cosine >= 0.9999."""
    a, b = _by_key(local), _by_key(dist)
    assert a.keys() == b.keys() and len(a) > 3
    assert [a[k][0] for k in a] == [b[k][0] for k in a]
    cos = [float(np.dot(a[k][1], b[k][1]) / np.linalg.norm(a[k][1]) / np.linalg.norm(b[k][1])) for k in a]
    assert min(cos) >= 0.9999


def _files_meta(index: Path) -> tuple[dict, dict]:
    from rag.index.local import LocalIndex

    with LocalIndex.open(index) as ix:
        return ix.meta["files"], ix.meta["skipped_files"]


@pytest.mark.e2e
def test_cli_ray_build_equals_local_build(cluster, real_seeds, real_index, tmp_path):
    """`rag index --ray ADDRESS`: the files read and chunked by Ray Data tasks, embedded by the real
    model on the cluster's workers; passages, keys and vectors as a local build's."""
    index = tmp_path / "ray-index"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "rag", "index", "--seeds", str(real_seeds), "--index", str(index),
                        "--ray", cluster], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "passages embedded with: ray-" in r.stderr and "[files read on: ray]" in r.stderr
    _assert_same_index(real_index, index)
    assert _files_meta(real_index)[0].keys() == _files_meta(index)[0].keys()


def _mixed_corpus(d: Path) -> Path:
    """Text and Markdown files, a file with no text and one of an unsupported format."""
    _write_corpus(d, n_files=9)
    (d / "notes").mkdir()
    (d / "notes" / "ships.md").write_text("# Ships\n\nThe harbour holds forty ships in winter.\n\n"
                                          "## Repairs\n\nSailors mend the hulls in spring.\n", encoding="utf-8")
    (d / "empty.txt").write_text("\n\n", encoding="utf-8")
    (d / "image.bin").write_bytes(b"\x00\x01")
    return d


def _ray_steps(**reader_kw):
    from rag.distributed.embedding import RayEmbedder
    from rag.distributed.reading import RayReader

    return (RayReader(token_ends=FakeEncoder().token_ends, batch_size=2, **reader_kw),
            RayEmbedder(factory=FakeFactory(), workers=2, batch_size=8))


def test_ray_read_and_embed_equals_local_build_incrementally(cluster, tmp_path):
    """Reading + chunking (Ray Data tasks) and embedding on the cluster: the same passages, keys,
    vectors and file records as a local build, first in full, then for changed, added and removed
    files (only those are read on the cluster)."""
    from rag.indexing.build import build_index

    seeds = _mixed_corpus(tmp_path / "seeds")
    reader, embedder = _ray_steps()

    def both():
        local = build_index(seeds, tmp_path / "local", encoder=FakeEncoder(), export_query_encoder=False)
        dist = build_index(seeds, tmp_path / "dist", encoder=FakeEncoder(), export_query_encoder=False,
                           reader=reader, embedder=embedder)
        assert (dist.files, dist.passages, dist.embedded, dist.reused, dist.removed) == (
            local.files, local.passages, local.embedded, local.reused, local.removed)
        assert dist.skipped == local.skipped and dist.warnings == local.warnings
        assert dist.reader == "ray" and local.reader == ""
        _assert_same_index(tmp_path / "local", tmp_path / "dist")
        assert _files_meta(tmp_path / "local") == _files_meta(tmp_path / "dist")
        return dist

    first = both()
    assert first.embedded == first.passages and {s.source for s in first.skipped} == {"empty.txt", "image.bin"}
    (seeds / "doc03.txt").write_text("The lamp in the tower burns at dusk.\n\nA new second paragraph.\n",
                                     encoding="utf-8")
    (seeds / "doc05.txt").unlink()
    (seeds / "later.md").write_text("# Later\n\nOwls hunt by the light of the moon.\n", encoding="utf-8")
    second = both()
    assert 0 < second.embedded < second.passages and second.removed > 0


def test_ray_reader_falls_back_when_a_node_cannot_see_the_seeds(cluster, tmp_path, monkeypatch):
    """Each node is asked whether it sees the files' folder; one that does not makes the reader
    read on the driver, with a warning that says what to do; the index is the same."""
    from rag.distributed import reading
    from rag.indexing.build import build_index

    seeds = _mixed_corpus(tmp_path / "seeds")
    assert reading.nodes_without([str(seeds)]) == []
    assert len(reading.nodes_without([str(tmp_path / "not-here")])) == 2  # both nodes answer "no"

    real = reading.nodes_without
    monkeypatch.setattr(reading, "nodes_without", lambda paths, timeout: real([*paths, str(tmp_path / "not-here")]))
    reader, embedder = _ray_steps()
    local = build_index(seeds, tmp_path / "local", encoder=FakeEncoder(), export_query_encoder=False)
    dist = build_index(seeds, tmp_path / "dist", encoder=FakeEncoder(), export_query_encoder=False,
                       reader=reader, embedder=embedder)
    assert dist.reader == "driver"
    assert [w for w in dist.warnings if "not readable" in w and "same path on every node" in w]
    _assert_same_index(tmp_path / "local", tmp_path / "dist")
    assert dist.passages == local.passages and dist.skipped == local.skipped


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
                want = single.search(q, k=10, mode=mode)
                got = sharded.search(q, k=10, mode=mode)
                assert [(h.row, h.source, h.char_start) for h in got] == [(h.row, h.source, h.char_start) for h in want]
                assert [h.confidence for h in got] == pytest.approx([h.confidence for h in want], abs=1e-9)
                assert [h.answer.text for h in got] == [h.answer.text for h in want]
                assert [h.score for h in got] == pytest.approx([h.score for h in want], rel=1e-6)
                assert [h.bm25_score for h in got] == pytest.approx([h.bm25_score for h in want], rel=1e-9)
    finally:
        sharded.close()
        single.index.close()
