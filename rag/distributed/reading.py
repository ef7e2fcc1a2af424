"""Reading and chunking a build's new and changed files on a Ray cluster (Ray Data tasks).

:class:`RayReader` is a :data:`rag.indexing.build.Reader`: the build still walks the seeds folder,
decides what changed (stamps, then hashes) and publishes; only the files to read go to the cluster,
as a Ray Data dataset of ``(row, path)`` mapped in batches by tasks that run
:func:`rag.indexing.reading.read_file` and return each file's result as a JSON string (plain data,
never pickled). A task whose worker dies is retried by Ray; the rows that come back are checked to
be each file exactly once.

Workers open the files at the driver's paths, so **every node needs the seeds folder at the same
path** (shared storage, or a synchronized copy). Before reading, one small task per node checks
that it sees the folder and the files; when some node does not, the files are read on the driver
instead (embedding still runs on the cluster) and the build says so in a warning.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from rag.distributed.cluster import connect, disconnect, quiet_progress_bars, require_ray
from rag.documents.files import SeedFile
from rag.embedding.document_encoder import BuildCancelled
from rag.errors import RagError
from rag.indexing.reading import FileRead, ModelTokenEnds, read_all, read_file

BATCH = 4  # files per task: one retry unit (a PDF can take seconds)
MAX_PROBE = 256  # folders of the files to read that each node is asked about
PROBE_TIMEOUT_S = 120.0  # a node that cannot answer the visibility check in this time counts as blind


def _sees(paths: list[str]) -> tuple[str, bool]:
    """On a worker: this node's address, and whether every path exists there."""
    import ray  # optional (the [ray] extra): imported where it is used

    return ray.util.get_node_ip_address(), all(Path(p).exists() for p in paths)


def nodes_without(paths: list[str], timeout: float = PROBE_TIMEOUT_S) -> list[str]:
    """The alive nodes (by address) on which some of ``paths`` does not exist (or that did not answer)."""
    import ray  # optional (the [ray] extra): imported where it is used
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0, max_retries=0)(_sees)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(paths)
            for n in nodes]
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
    blind = []
    for n, ref in zip(nodes, refs):
        try:
            ok = ref in ready and ray.get(ref)[1]
        except ray.exceptions.RayError:
            ok = False
        if not ok:
            blind.append(n.get("NodeManagerAddress", n["NodeID"]))
    for ref in refs:
        if ref not in ready:
            ray.cancel(ref, force=True)
    return blind


def _read_batch(batch: dict, token_ends, max_tokens: int, max_bytes: int) -> dict:
    """A Ray Data task: read the batch's files; one JSON string per file."""
    out = [json.dumps(read_file(SeedFile(str(s), Path(str(p))), token_ends, max_tokens, max_bytes).to_json())
           for s, p in zip(batch["source"], batch["path"])]
    return {"row": np.asarray(batch["row"], dtype=np.int64), "result": np.asarray(out, dtype=object)}


class RayReader:
    """Reads files on the Ray cluster at ``address`` (None: the running one); see the module doc.

    ``token_ends``: the word-piece counter the workers chunk with; picklable (default: the build's
    model's tokenizer, :class:`ModelTokenEnds`). ``batch_size``: files per task.
    """

    def __init__(self, address: str | None = None, *, token_ends=None, batch_size: int = BATCH,
                 probe_timeout: float = PROBE_TIMEOUT_S, stay_connected: bool = False) -> None:
        self.stay_connected = stay_connected  # leave the connection this call made open (the caller disconnects)
        self.address = address
        self.token_ends = token_ends
        self.batch_size = batch_size
        self.probe_timeout = probe_timeout
        self.where = ""  # "ray" or "driver" after a call: where the files were read

    def __call__(self, files: list[SeedFile], *, token_ends, max_tokens: int, max_bytes: int, info=None,
                 progress=None, cancel: threading.Event | None = None, warn=None) -> list[FileRead]:
        ray = require_ray()
        if not files:
            return []
        joined = connect(self.address)
        try:
            probe = sorted({str(Path(f.path).parent) for f in files})[:MAX_PROBE]
            blind = nodes_without(probe, self.probe_timeout)
            if blind:
                self.where = "driver"
                if warn is not None:
                    warn(f"the seeds folder is not readable at {probe[0]} on {len(blind)} Ray node(s) "
                         f"({', '.join(sorted(blind)[:3])}): its files were read here and only embedded on the "
                         "cluster; put the folder at the same path on every node to read it there too")
                return list(read_all(files, token_ends, max_tokens, max_bytes, progress))
            self.where = "ray"
            worker_ends = self.token_ends
            if worker_ends is None:
                if info is None or not info.path:
                    raise ValueError("RayReader needs the build's model info or a picklable token_ends")
                worker_ends = ModelTokenEnds(info.path)
            with quiet_progress_bars(ray):
                return self._run(ray, files, worker_ends, max_tokens, max_bytes, progress, cancel)
        finally:
            if joined and not self.stay_connected:
                disconnect()

    def _run(self, ray, files, token_ends, max_tokens, max_bytes, progress, cancel) -> list[FileRead]:
        rows = [{"row": i, "source": f.source, "path": str(f.path)} for i, f in enumerate(files)]
        ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows) // self.batch_size + 1, 64)))
        out = ds.map_batches(_read_batch, fn_kwargs={"token_ends": token_ends, "max_tokens": max_tokens,
                                                     "max_bytes": max_bytes},
                             batch_size=self.batch_size, batch_format="numpy", num_cpus=1)
        got: list[FileRead | None] = [None] * len(files)
        seen = np.zeros(len(files), dtype=np.int64)
        try:
            for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
                if cancel is not None and cancel.is_set():
                    raise BuildCancelled("build cancelled; the previous index is unchanged")
                for i, text in zip(batch["row"].tolist(), batch["result"]):
                    got[i] = FileRead.from_json(json.loads(str(text)))
                np.add.at(seen, batch["row"], 1)
                if progress is not None:
                    progress(int(np.count_nonzero(seen)), len(files))
        except ray.exceptions.RayError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RagError(f"reading on the Ray cluster failed ({first[:300]}); the previous index is unchanged") from None
        if not np.all(seen == 1) or any(g is None or g.source != f.source for g, f in zip(got, files)):
            lost, twice = int(np.count_nonzero(seen == 0)), int(np.count_nonzero(seen > 1))
            raise RagError(f"the Ray cluster returned {lost} files missing and {twice} twice; "
                           "nothing was published: run `rag index --ray` again")
        return got  # type: ignore[return-value]


def ray_reader(address: str | None) -> RayReader:
    """The reader ``rag index --ray [ADDRESS]`` passes to the build; it leaves its connection open
    for the embedding step (the CLI disconnects at the end)."""
    require_ray()
    return RayReader(None if address in (None, "", "auto") else address, stay_connected=True)
