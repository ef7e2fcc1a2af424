"""Encoders shipped to Ray workers by tests/test_ray.py (importable there through PYTHONPATH)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from fakes import FakeEncoder


class StallOnceEncoder(FakeEncoder):
    """A fake encoder whose first batch, on whichever worker gets it, writes the worker's pid to
    ``<marker>/pid`` and waits until the test has written ``<marker>/killed`` (and killed it)."""

    def __init__(self, marker: str, dim: int = 64) -> None:
        super().__init__(dim=dim)
        self.marker = Path(marker)

    def encode(self, texts, progress=None, cancel=None):
        if not (self.marker / "killed").exists():
            (self.marker / f"pid.{os.getpid()}").write_text(str(os.getpid()))
            deadline = time.monotonic() + 120
            while not (self.marker / "killed").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        return super().encode(texts, progress, cancel)


class FakeFactory:
    """Picklable factory of a FakeEncoder (or StallOnceEncoder when ``marker`` is given)."""

    def __init__(self, marker: str | None = None) -> None:
        self.marker = marker

    def __call__(self):
        return StallOnceEncoder(self.marker) if self.marker else FakeEncoder()
