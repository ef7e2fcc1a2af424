"""Connecting to a Ray cluster: an explicit address, or the running one (``RAY_ADDRESS``, ``ray start``)."""

from __future__ import annotations

import contextlib

from rag.errors import RagError

INSTALL_HINT = "install it in rag's folder with `pip install -e '.[ray]'`"


class ClusterError(RagError):
    """Ray is missing or no cluster answers at the address."""


def require_ray():
    """The ``ray`` module, or a ClusterError that says how to install it."""
    try:
        import ray  # optional (the [ray] extra): this is where its absence is reported
        import ray.data  # noqa: F401  (needs pyarrow: part of ray[data])
    except ImportError as exc:
        raise ClusterError(f"Ray is not installed ({exc.name or exc}): {INSTALL_HINT}") from None
    return ray


def connect(address: str | None = None) -> bool:
    """Join the cluster at ``address`` (None or "auto": the running one). Returns True when this
    call connected (the caller then disconnects with :func:`disconnect`), False when this process
    was already connected."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    target = address if address not in (None, "") else "auto"
    try:
        ray.init(address=target, log_to_driver=False, logging_level="warning")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or ["no answer"])[0]
        raise ClusterError(
            f"no Ray cluster at {target} ({first}): start one with `ray start --head` "
            "or give its address: rag index --ray HOST:PORT"
        ) from None
    return True


def disconnect() -> None:
    import ray  # optional (the [ray] extra): imported where it is used

    ray.shutdown()


def worker_count() -> int:
    """Whole CPUs of the cluster (each embedding worker takes one, or one GPU)."""
    import ray  # optional (the [ray] extra): imported where it is used

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def gpu_count() -> int:
    import ray  # optional (the [ray] extra): imported where it is used

    return int(ray.cluster_resources().get("GPU", 0))


@contextlib.contextmanager
def quiet_progress_bars(ray):
    """Ray Data's own progress bars off for the duration (the build's progress callback reports)."""
    ctx = ray.data.DataContext.get_current()
    old = ctx.enable_progress_bars
    ctx.enable_progress_bars = False
    try:
        yield
    finally:
        ctx.enable_progress_bars = old
