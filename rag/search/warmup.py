"""Load an index's query encoder in the background, for a one-shot command (`rag ask`).

A cold `rag ask` spends most of its time importing numpy and rag and loading the query encoder.
ONNX Runtime builds its session without holding the GIL, so on a second core it can run while the
main thread imports and opens the index. :func:`start_query_encoder` reads the index's build
record and loads the checked export (:func:`rag.embedding.onnx_encoder.load_export`) in a thread;
the retriever's own load then finds it in the process's cache (same export, same model), after
doing every check itself. Nothing here decides anything: when the record or the export is
missing or unusable, the thread stops and the foreground meets and reports the same problem.

Importing this module is cheap (the thread does the heavy imports).
"""

from __future__ import annotations

import threading
from pathlib import Path

from rag.errors import RagError

ONE_SHOT_THREADS = 1  # one question: a session without a thread pool starts sooner and spins no core
HEAD_START = 1.0  # seconds at most that the caller waits for the thread's imports


class Warmup:
    """The loading thread; :meth:`head_start` waits until it has imported numpy and ONNX Runtime
    (held back, the caller's own imports would take turns with them for the GIL and the session,
    which runs without it, would start late)."""

    def __init__(self, index_dir: Path, threads: int | None) -> None:
        self.imported = threading.Event()
        self.thread = threading.Thread(target=self._load, args=(index_dir, threads), name="rag-query-encoder")
        self.thread.start()  # not a daemon: the interpreter waits for it at exit

    def head_start(self, timeout: float = HEAD_START) -> None:
        self.imported.wait(timeout)

    def finish(self) -> None:
        """Wait for the thread (then the retriever's load takes its encoder, or meets its error)."""
        self.thread.join()

    def _load(self, index_dir: Path, threads: int | None) -> None:
        try:
            import onnxruntime  # noqa: F401 - imported first: the session can start as soon as the record is read
        except ImportError:
            return  # the foreground reports it
        finally:
            self.imported.set()
        from rag.index import store  # in the thread, after ONNX Runtime: importing this module stays cheap

        try:
            _, meta = store.open_meta(index_dir, hand_over=True)  # the retriever's open takes it: one parse
            # In the thread, once the record is read: the encoder side (numpy, ONNX Runtime's session, the export).
            from rag.embedding.model import recorded_model
            from rag.embedding.onnx_encoder import load_export

            mdir, info = recorded_model(meta["model"])
            load_export(mdir, info, threads=threads)
        except (RagError, OSError, KeyError, TypeError, ValueError, AttributeError):
            return  # the foreground opens the index and loads the encoder itself, and reports what fails


def start_query_encoder(index_dir: str | Path, threads: int | None = ONE_SHOT_THREADS) -> Warmup:
    """Start loading the query encoder of the index at ``index_dir`` in a thread of its own."""
    return Warmup(Path(index_dir), threads)
