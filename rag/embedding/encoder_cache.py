"""Where the exported query encoders live: one folder per user, shared by every index.

``RAG_CACHE_DIR`` names the folder; otherwise ``$XDG_CACHE_HOME/rag``, else ``~/.cache/rag``. An
export is ``encoders/<weights sha256[:16]>-<pooling>.onnx`` (``-<pooling>-int8.onnx`` for the int8
one, :mod:`rag.embedding.quantize`), its weights in ``.onnx.data`` beside
it and its sidecar ``.json`` (written by :mod:`rag.embedding.onnx_export`, read by
:mod:`rag.embedding.onnx_encoder`); ``.lock`` serializes exporters of one model across processes.
Nothing here imports torch or onnxruntime.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

from rag.embedding.model import ModelInfo
from rag.embedding.pooling import read_pooling
from rag.errors import ModelError

ENCODERS_DIR = "encoders"


def cache_dir() -> Path:
    env = os.environ.get("RAG_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "rag"


def encoder_key(info: ModelInfo) -> str:
    return f"{info.weights_sha256[:16]}-{info.pooling}" + ("" if info.precision == "fp32" else f"-{info.precision}")


def encoder_paths(info: ModelInfo) -> tuple[Path, Path]:
    """(model.onnx, sidecar.json) of this model's export in the user cache."""
    base = cache_dir() / ENCODERS_DIR / encoder_key(info)
    return base.with_name(base.name + ".onnx"), base.with_name(base.name + ".json")


def data_path(onnx_path: Path) -> Path:
    """The weights file beside an export (``<key>.onnx.data``), named inside the graph."""
    return onnx_path.with_name(onnx_path.name + ".data")


def export_is_current(info: ModelInfo) -> bool:
    """True when the export for this model exists with the size and mtime its sidecar recorded
    (cheap enough for a no-change build; the loader's probe check catches damaged content)."""
    onnx_path, meta_path = encoder_paths(info)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        st = onnx_path.stat()
        if "data_bytes" in meta:
            ds = data_path(onnx_path).stat()
            if (ds.st_size, ds.st_mtime_ns) != (int(meta["data_bytes"]), int(meta["data_mtime_ns"])):
                return False
        return (meta.get("weights_sha256") == info.weights_sha256
                and meta.get("pooling", "mean") == read_pooling(Path(info.path)).mode
                and (st.st_size, st.st_mtime_ns) == (int(meta["onnx_bytes"]), int(meta["onnx_mtime_ns"])))
    except (OSError, ValueError, KeyError, TypeError, ModelError):
        return False


class ExportLock:
    """An exclusive lock on one model's export (a ``flock`` on ``<key>.lock``, released by the
    kernel when the holder dies). ``wait=False``: :attr:`held` says whether it was taken."""

    def __init__(self, info: ModelInfo, wait: bool = True) -> None:
        self.path = encoder_paths(info)[0].with_suffix(".lock")
        self.wait = wait
        self.held = False
        self._fd: int | None = None

    def __enter__(self) -> "ExportLock":
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ModelError(f"cannot write the query-encoder cache {self.path.parent} ({exc}); "
                             "set RAG_CACHE_DIR to a writable folder") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
            self.held = True
        except BlockingIOError:
            self.held = False
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None


def start_background_export(info: ModelInfo) -> subprocess.Popen | None:
    """Export this model's query encoder in a detached, low-priority process
    (``python -m rag.embedding.export_job MODEL_DIR PRECISION``), so that nothing waits for it. None when an
    exporter of this model is already running. Its errors go to ``<key>.log`` in the cache."""
    with ExportLock(info, wait=False) as lock:
        if not lock.held:
            return None
    onnx_path, _ = encoder_paths(info)
    log_path = onnx_path.with_suffix(".log")
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "rag.embedding.export_job", info.path, info.precision],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file,
            start_new_session=True, close_fds=True,
        )
