"""``rag status``: what is indexed, what was skipped and why, which files were read with a warning
(an encoding other than UTF-8, bad bytes replaced), and what changed since the build."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag.cli.common import add_folder_options
from rag.terminal_text import terminal_line

NAME = "status"


def add_parser(commands) -> None:
    sp = commands.add_parser(NAME, help="what is indexed, and what changed since")
    add_folder_options(sp)
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.add_argument("--verify", action="store_true",
                    help="also check every index file against its checksum (reads the whole index; exit 1 when damaged)")


def run(args: argparse.Namespace) -> int:
    # The index side loads when the command runs, not at start-up.
    from rag.documents.changes import seeds_changes
    from rag.index import store
    from rag.index.local import LocalIndex
    from rag.search.retriever import dense_kind

    version, m = store.open_meta(Path(args.index))
    with LocalIndex.open(Path(args.index)) as backend:
        verified = backend.verify() if args.verify else None  # damage: one line naming the rebuild, exit 1
        kind = dense_kind(backend.segments())
    root = Path(args.seeds)
    ch = seeds_changes(root, m, Path(args.index)) if root.is_dir() else None
    query_encoder = _query_encoder_status(m)
    if args.json:
        print(
            json.dumps(
                {
                    "index": str(Path(args.index)),
                    "version": version.name,
                    "built_at": m.get("built_at"),
                    "model": m.get("model", {}).get("name"),
                    "files": m.get("counts", {}).get("files"),
                    "passages": m.get("counts", {}).get("passages"),
                    "seeds_root": m.get("seeds_root"),
                    "skipped": {s: v.get("reason") for s, v in m.get("skipped_files", {}).items()},
                    "read_warnings": _read_warnings(m),
                    "changes": None if ch is None else {"added": ch.added, "modified": ch.modified, "removed": ch.removed},
                    "query_encoder": query_encoder,
                    "verified_files": verified,
                }
            )
        )
        return 0
    c = m.get("counts", {})
    print(terminal_line(f"index:    {args.index} ({version.name})"))
    print(terminal_line(f"built:    {m.get('built_at')} in {m.get('build_seconds')}s"))
    print(terminal_line(f"model:    {m.get('model', {}).get('name')} ({m.get('model', {}).get('dim')}-d, {kind})"))
    print(terminal_line(f"contents: {c.get('files')} files, {c.get('passages')} passages from {m.get('seeds_root')}"))
    print(terminal_line(f"queries:  encoded with {query_encoder}"))
    if verified is not None:
        print(f"verified: all {verified} index files match their checksums")
    for s, v in m.get("skipped_files", {}).items():
        print(terminal_line(f"skipped:  {s}: {v.get('reason')}"))
    for s, w in _read_warnings(m).items():
        print(terminal_line(f"read:     {s}: {w}"))
    if ch is None:
        print(terminal_line(f"seeds:    {root} not found"))
    elif not ch:
        print("seeds:    no changes since the build")
    else:
        print(terminal_line(f"seeds:    {ch.summary()} since the build; run `rag index`"))
        for label, items in (("added", ch.added), ("modified", ch.modified), ("removed", ch.removed)):
            for s in items:
                print(terminal_line(f"  {label:<8} {s}"))
    return 0


def _read_warnings(manifest: dict) -> dict[str, str]:
    """The indexed files the build read with a warning (the encoding it fell back to, bad bytes
    replaced, pages without text), by source: what the manifest records as ``encoding_warning``."""
    files = manifest.get("files") or {}
    return {s: str(v["encoding_warning"]) for s, v in sorted(files.items())
            if isinstance(v, dict) and v.get("encoding_warning")}


def _query_encoder_status(manifest: dict) -> str:
    """Which query encoder a search will load, judged without loading it."""
    # The embedding side (subprocess, locale) loads only for this line of `rag status`.
    from rag.embedding.model import ModelInfo
    from rag.embedding.encoder_cache import export_is_current

    mm = manifest.get("model", {})
    try:
        info = ModelInfo(mm.get("name", ""), mm.get("path", ""), int(mm.get("dim", 0)),
                         int(mm.get("max_tokens", 0)), str(mm.get("weights_sha256", "")),
                         str(mm.get("pooling", "mean")), str(mm.get("precision", "fp32")))
    except (TypeError, ValueError, AttributeError):
        return "unknown (the manifest does not name the model; run `rag index --rebuild`)"
    if export_is_current(info):
        return "onnxruntime"
    return "sentence-transformers (the ONNX export is missing or changed; run `rag index`)"
