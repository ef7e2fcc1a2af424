"""Reading one changed file for a build: read, hash, parse and chunk it into passages.

:func:`read_file` is what a build does per new or changed file, here or on a Ray worker
(:mod:`rag.distributed.reading`); :class:`FileRead` is its result, which travels between processes
as plain JSON (:meth:`FileRead.to_json`), never pickled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rag.documents.chunking import chunk
from rag.documents.files import SeedFile
from rag.documents.ingest import read_seed
from rag.index.passages_io import passage_from_payload, passage_payload
from rag.types import Passage

TokenEnds = Callable[[str], list[int]]


@dataclass
class FileRead:
    """One file read for a build. ``skip`` says why it is not indexed (then ``passages`` is empty);
    ``stamp`` is what ``stat`` said just before reading; ``stamped`` is False when the file could
    not even be stat'ed (nothing to record for it)."""

    source: str
    sha256: str
    stamp: dict
    stamped: bool = True
    skip: str | None = None
    warning: str | None = None
    passages: list[Passage] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"source": self.source, "sha256": self.sha256, "stamp": self.stamp, "stamped": self.stamped,
                "skip": self.skip, "warning": self.warning, "passages": [passage_payload(p) for p in self.passages]}

    @classmethod
    def from_json(cls, d: dict) -> FileRead:
        where = f"the passages read from {d.get('source')!r}"
        return cls(d["source"], d["sha256"], dict(d["stamp"]), bool(d["stamped"]), d.get("skip"), d.get("warning"),
                   [passage_from_payload(p, where) for p in d.get("passages", [])])


def read_file(f: SeedFile, token_ends: TokenEnds, max_tokens: int, max_bytes: int) -> FileRead:
    """Read ``f`` and split it into passages of at most ``max_tokens`` word-pieces (``token_ends``)."""
    r = read_seed(f, max_bytes=max_bytes)
    if r.skip:
        return FileRead(f.source, r.sha256, r.stamp(), bool(r.size or r.mtime_ns), skip=r.skip)
    ps = chunk(r.document, token_ends=token_ends, max_tokens=max_tokens)
    return FileRead(f.source, r.sha256, r.stamp(), warning=r.warning, passages=ps)


def read_all(files: list[SeedFile], token_ends: TokenEnds, max_tokens: int, max_bytes: int, progress=None):
    """:func:`read_file` over ``files`` one by one, here (a generator: each file's text is let go once
    chunked); ``progress(done, total)`` after each."""
    for i, f in enumerate(files, start=1):
        r = read_file(f, token_ends, max_tokens, max_bytes)
        if progress is not None:
            progress(i, len(files))
        yield r


@dataclass(frozen=True)
class ModelTokenEnds:
    """The word-piece ends of the model at ``path`` (or, where that folder does not exist, as on a
    Ray node that keeps its model elsewhere, of that process's default model): picklable, so that a
    worker builds its own tokenizer instead of receiving one."""

    path: str

    def __call__(self, text: str) -> list[int]:
        from rag.embedding.model import default_model_dir, word_pieces  # the tokenizer's module: in the worker that calls it (Ray pickles this object, not the tokenizer)

        p = self.path if self.path and Path(self.path).is_dir() else str(default_model_dir())
        return word_pieces(p).token_ends(text)  # cached per process
