"""The questions asked, kept across runs in a small JSON-lines file beside the index.

One question per line, ``{"q": "..."}``. Reading skips damaged lines and never raises; the file is
compacted to the newest ``cap`` questions when it grows past twice that. No UI code here.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

HISTORY_FILE = "history.jsonl"
CAP = 500
MAX_QUESTION_CHARS = 2000


class History:
    """Questions, oldest first, backed by a file (or only in memory when ``path`` is None)."""

    def __init__(self, path: Path | None, cap: int = CAP) -> None:
        self.path = Path(path) if path is not None else None
        self.cap = cap
        self._lock = threading.Lock()

    def load(self) -> list[str]:
        """The stored questions, oldest first, without consecutive repeats; [] when unreadable."""
        if self.path is None:
            return []
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except OSError:
            return []
        out: list[str] = []
        for line in raw.decode("utf-8", "replace").splitlines():
            q = _parse(line)
            if q and (not out or out[-1] != q):
                out.append(q)
        return out[-self.cap :]

    def append(self, question: str) -> None:
        """Add one question; raises OSError when the file cannot be written."""
        q = _clean(question)
        if self.path is None or not q:
            return
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"q": q}, ensure_ascii=False) + "\n")
            self._compact_if_long()

    def _compact_if_long(self) -> None:
        if self.path is None:
            return
        try:
            n = sum(1 for _ in open(self.path, "rb"))
        except OSError:
            return
        if n <= 2 * self.cap:
            return
        kept = self.load()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(json.dumps({"q": q}, ensure_ascii=False) + "\n" for q in kept), encoding="utf-8")
        os.replace(tmp, self.path)


def _clean(question: str) -> str:
    return " ".join(str(question).split())[:MAX_QUESTION_CHARS]


def _parse(line: str) -> str | None:
    line = line.strip()
    if not line:
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if isinstance(obj, dict) and isinstance(obj.get("q"), str):
        return _clean(obj["q"]) or None
    return None
