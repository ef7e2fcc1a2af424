"""From a build's change decision to what it publishes about its files: the new and changed files
are read (here, or by a pluggable reader), the unchanged ones keep their records, and every file
gets the manifest record the next build's change decision reads (stamp, hash, passages; or why it
was skipped)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from rag.documents.changes import Changes
from rag.documents.files import SeedFile
from rag.embedding.model import ModelInfo, word_pieces
from rag.errors import RagError
from rag.indexing.hooks import BuildProgress, Reader, stage
from rag.indexing.reading import FileRead, read_all
from rag.types import BuildStats, Passage, Skipped


@dataclass
class FileRecords:
    """The passages of the files read now, and the manifest records of every file."""

    passages: dict[str, list[Passage]] = field(default_factory=dict)  # by source, for the files read now
    files: dict[str, dict] = field(default_factory=dict)  # every indexed file's record, by source
    skipped: dict[str, dict] = field(default_factory=dict)  # every skipped file's record, by source


def file_records(ch: Changes, unchanged: list[SeedFile], to_read: list[SeedFile], prev_files: dict,
                 prev_skipped: dict, walk_skipped: list[Skipped], info: ModelInfo, encoder, stats: BuildStats, *,
                 progress: BuildProgress | None, cancel: threading.Event | None, max_file_bytes: int,
                 reader: Reader | None) -> FileRecords:
    """Read ``to_read``; carry the records of ``unchanged`` files (from ``prev_files`` and
    ``prev_skipped``, with the stamps ``ch`` took); record the walk's ``walk_skipped``. Sets the
    build's skipped files and read warnings in ``stats``."""
    out = FileRecords(skipped={s.source: {"reason": s.reason} for s in walk_skipped})
    stats.skipped = list(walk_skipped)
    for f in unchanged:
        stamp = ch.touched[f.source][0].to_json() if f.source in ch.touched else {}
        if f.source in prev_files:
            out.files[f.source] = {**prev_files[f.source], **stamp}
        else:
            out.skipped[f.source] = {**prev_skipped[f.source], **stamp}
            stats.skipped.append(Skipped(f.source, prev_skipped[f.source].get("reason", "")))
    for r in _read(to_read, info, encoder, stats, progress=progress, cancel=cancel, max_file_bytes=max_file_bytes,
                   reader=reader):
        if r.skip:
            stats.skipped.append(Skipped(r.source, r.skip))
            if r.stamped:
                out.skipped[r.source] = {"reason": r.skip, **r.stamp, "sha256": r.sha256 or None}
            continue
        if r.warning:
            stats.warnings.append(f"{r.source}: {r.warning}")
        ps = r.passages
        if not ps:
            stats.skipped.append(Skipped(r.source, "no text"))
            out.skipped[r.source] = {"reason": "no text", **r.stamp, "sha256": r.sha256}
            continue
        out.passages[r.source] = ps
        out.files[r.source] = {
            "sha256": r.sha256,
            **r.stamp,
            "passages": len(ps),
            "encoding_warning": r.warning,
        }
    stats.skipped.sort(key=lambda k: k.source)
    return out


def _read(to_read: list[SeedFile], info: ModelInfo, encoder, stats: BuildStats, *, progress: BuildProgress | None,
          cancel: threading.Event | None, max_file_bytes: int, reader: Reader | None) -> list[FileRead]:
    """One :class:`FileRead` per file of ``to_read``, in order: by ``reader`` when there is one,
    else here, one file after another; passages cut at the model's word-piece limit."""
    token_ends = encoder.token_ends if encoder is not None else None
    if token_ends is None:
        token_ends = word_pieces(info.path).token_ends
    limit = info.max_tokens - 2  # [CLS] and [SEP]
    cb = stage(progress, "reading")
    if reader is None or not to_read:
        return read_all(to_read, token_ends, limit, max_file_bytes, cb)
    reads = reader(to_read, token_ends=token_ends, max_tokens=limit, max_bytes=max_file_bytes, info=info,
                   progress=cb, cancel=cancel, warn=stats.warnings.append)
    if [r.source for r in reads] != [f.source for f in to_read]:
        raise RagError("the reader returned other files than the build asked for; nothing was published")
    stats.reader = str(getattr(reader, "where", "") or "custom")
    return reads
