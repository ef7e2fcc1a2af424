"""PDF ingest speed: pages per second of rag's PDF reader (``PdfReader.parse``, in this process),
best of ``--repeat`` runs a file, in CPU time of this process (``time.process_time``: steadier than
wall time on a machine others load; the reader is single-threaded, so the two agree when it is
idle). With ``--against REV``, the reader of that git revision (``rag/documents/readers/pdf.py``
or the ``pdf/`` package) is timed on the same files, the two runs interleaved.

    .venv/bin/python bench/devsets/pdfs/ingest_speed.py bench/devsets/pdfs/docs/*.pdf --against b2a3b86
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def reader_at(rev: str):
    """The PdfReader class of git revision ``rev``, imported from a copy of its ``rag`` package."""
    tmp = Path(tempfile.mkdtemp(prefix="rag-rev-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "rag"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
    saved = {k: v for k, v in sys.modules.items() if k == "rag" or k.startswith("rag.")}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, str(tmp))
    try:
        return importlib.import_module("rag.documents.readers.pdf").PdfReader
    finally:
        sys.path.remove(str(tmp))
        for k in [k for k in sys.modules if k == "rag" or k.startswith("rag.")]:
            del sys.modules[k]
        sys.modules.update(saved)


def best(reader, data: bytes, repeat: int) -> tuple[int, float]:
    t = float("inf")
    for _ in range(repeat):
        a = time.process_time()
        doc = reader.parse("x.pdf", data)
        t = min(t, time.process_time() - a)
    return doc.pages or 0, t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--against", default=None, metavar="REV")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    old = reader_at(args.against)() if args.against else None
    from rag.documents.readers.pdf import PdfReader

    new = PdfReader()
    totals = {"now": [0, 0.0], "then": [0, 0.0]}
    for f in args.files:
        data = Path(f).read_bytes()
        row = []
        for name, reader in (("then", old), ("now", new)):
            if reader is None:
                continue
            pages, t = best(reader, data, args.repeat)
            totals[name][0] += pages
            totals[name][1] += t
            row.append(f"{name} {pages / t:6.0f}")
        print(f"{Path(f).name[:44]:<44} {pages:>4} pages  pages/s: " + "  ".join(row))
    print("all: " + "  ".join(f"{k} {p / t:.0f} pages/s" for k, (p, t) in totals.items() if t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
