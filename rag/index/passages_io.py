"""Reading and writing the passages of an index version (JSON lines, one passage per line)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from rag.errors import IndexCorruptError
from rag.index.store import REBUILD_HINT
from rag.types import Passage

FILE = "passages.jsonl"
_FIELDS = ("text", "source", "line_start", "line_end", "paragraph", "char_start", "char_end", "hash", "col_start")
_OPTIONAL = ("col_end",)  # absent from indexes built before it existed


def write_passages(folder: Path, passages: list[Passage]) -> None:
    with open(Path(folder) / FILE, "w", encoding="utf-8", newline="\n") as f:
        for p in passages:
            d = {k: getattr(p, k) for k in _FIELDS}
            for k in _OPTIONAL:
                if getattr(p, k) is not None:
                    d[k] = getattr(p, k)
            f.write(json.dumps(d, ensure_ascii=False))
            f.write("\n")


def read_passages(folder: Path, expected: int) -> list[Passage]:
    path = Path(folder) / FILE
    out: list[Passage] = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                try:
                    d = json.loads(line)
                    out.append(Passage(**{k: d[k] for k in _FIELDS}, **{k: d[k] for k in _OPTIONAL if k in d}))
                except (ValueError, KeyError, TypeError) as exc:
                    raise IndexCorruptError(f"{path} line {n} is damaged ({exc}); {REBUILD_HINT}") from None
    except FileNotFoundError:
        raise IndexCorruptError(f"{path} is missing; {REBUILD_HINT}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"cannot read {path} ({exc}); {REBUILD_HINT}") from None
    if len(out) != expected:
        raise IndexCorruptError(f"{path} has {len(out)} passages, the manifest says {expected}; {REBUILD_HINT}")
    return out


class PassageFile(Sequence):
    """The passages of an index version, parsed one at a time when first used.

    Opening reads the file's bytes and counts its lines (no JSON is parsed), so answering one
    question costs the same for 20 passages as for 20,000: only the hits are decoded. A damaged
    line raises :class:`IndexCorruptError` when it is reached (truncation or extra lines are
    caught at once by the line count; `rag status --verify` checks every byte).
    """

    def __init__(self, folder: Path, expected: int) -> None:
        self.path = Path(folder) / FILE
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise IndexCorruptError(f"{self.path} is missing; {REBUILD_HINT}") from None
        except OSError as exc:
            raise IndexCorruptError(f"cannot read {self.path} ({exc}); {REBUILD_HINT}") from None
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if len(lines) != expected:
            raise IndexCorruptError(
                f"{self.path} has {len(lines)} passages, the manifest says {expected}; {REBUILD_HINT}"
            )
        self._lines = lines
        self._cache: dict[int, Passage] = {}

    def __len__(self) -> int:
        return len(self._lines)

    def _get(self, i: int) -> Passage:
        p = self._cache.get(i)
        if p is None:
            try:
                d = json.loads(self._lines[i])
                p = Passage(**{k: d[k] for k in _FIELDS})
            except (ValueError, KeyError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
                raise IndexCorruptError(f"{self.path} line {i + 1} is damaged ({exc}); {REBUILD_HINT}") from None
            self._cache[i] = p
        return p

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self._get(j) for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("passage index out of range")
        return self._get(i)

    def __iter__(self) -> Iterator[Passage]:
        return (self._get(i) for i in range(len(self)))


# -- passages as index records: a stable key and a JSON payload ------------------------------------
KEY_HASH_CHARS = 16


def source_prefix(source: str) -> str:
    """The prefix every key of ``source``'s passages starts with (its length makes it unambiguous:
    no other source's keys start with it)."""
    return f"{len(source)}:{source}#"


def passage_key(p: Passage) -> str:
    """A key that stays the same across builds while the passage's source, place and text do:
    ``<len>:<source>#<char_start>-<char_end>#<text hash>``."""
    return f"{source_prefix(p.source)}{p.char_start}-{p.char_end}#{p.hash[:KEY_HASH_CHARS]}"


def key_text_hash(key: str) -> str:
    """The text-hash part of a :func:`passage_key` (what a build reuses a stored vector by)."""
    return key.rsplit("#", 1)[-1]


def passage_payload(p: Passage) -> dict:
    d = {k: getattr(p, k) for k in _FIELDS}
    for k in _OPTIONAL:
        if getattr(p, k) is not None:
            d[k] = getattr(p, k)
    return d


def passage_from_payload(d: dict, where: str = "the index") -> Passage:
    try:
        return Passage(**{k: d[k] for k in _FIELDS}, **{k: d[k] for k in _OPTIONAL if k in d})
    except (KeyError, TypeError) as exc:
        raise IndexCorruptError(f"a passage in {where} is damaged ({exc}); {REBUILD_HINT}") from None
