"""Reading and writing the passages of an index version (JSON lines, one passage per line)."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import IndexCorruptError
from .store import REBUILD_HINT
from .types import Passage

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
