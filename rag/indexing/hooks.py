"""The pluggable steps of a build and the progress it reports (:func:`rag.indexing.build.build_index`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# progress(stage, done, total): stage is "reading", "embedding", "writing" or "exporting" (the
# query encoder for ONNX Runtime, once per model).
BuildProgress = Callable[[str, int, int], None]

# The embedding step of a build, pluggable: ``embedder(texts, info=, progress=, cancel=)`` returns one
# L2-normalized float32 row per text, in order, with the build's model ``info`` (``progress(done,
# total)``; raise BuildCancelled when ``cancel`` is set). None: the build's own encoder in this process.
# rag.distributed.embedding provides one that embeds on a Ray cluster; it may carry a ``path_name``
# for the build summary.
Embedder = Callable[..., np.ndarray]

# The reading step of a build, pluggable: ``reader(files, token_ends=, max_tokens=, max_bytes=, info=,
# progress=, cancel=, warn=)`` returns one rag.indexing.reading.FileRead per file, in order, as
# read_file would (``progress(done, total)``; ``warn(line)`` adds a build warning). None: read here,
# one file after another. rag.distributed.reading provides one that reads on a Ray cluster.
Reader = Callable[..., list]


def stage(progress: BuildProgress | None, name: str) -> Callable[[int, int], None] | None:
    """``progress`` for one stage, as ``(done, total)``; None when there is no progress."""
    if progress is None:
        return None
    return lambda done, total: progress(name, done, total)
