"""``python -m rag.embedding.export_job MODEL_DIR [PRECISION]``: export the model's query encoder into the user
cache (:func:`rag.embedding.onnx_export.export`) at low priority, then exit. Started detached by
:func:`rag.embedding.encoder_cache.start_background_export` after a first build, so that the first
answer never waits for the export. Exit status 0 when the export is there afterwards, 1 if not (the
reason, one line, on stderr)."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

from rag.errors import RagError


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: python -m rag.embedding.export_job MODEL_DIR [fp32|int8]", file=sys.stderr)
        return 2
    try:
        os.nice(10)  # yield the CPU to whatever the user is doing
    except OSError:
        pass
    try:
        # after nice(): the export's modules (torch, onnx) load at low priority, in this job only
        from rag.embedding.encoder_cache import ExportLock, export_is_current
        from rag.embedding.model import model_info
        from rag.embedding.onnx_export import export_locked
        from rag.embedding.quantize import check_precision

        info = replace(model_info(Path(argv[0])), precision=check_precision(argv[1] if len(argv) > 1 else "fp32"))
        with ExportLock(info, wait=False) as lock:  # taken before torch loads: one job at a time
            if not lock.held or export_is_current(info):
                return 0  # another exporter is at it, or it is done
            export_locked(info)  # a BERT without torch; any other model loads it
    except (RagError, ValueError) as exc:
        print(f"rag: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
