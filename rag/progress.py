"""A plain progress bar for terminals (stderr), silent when stderr is not a terminal."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """Callable as ``progress(stage, done, total)``, the build's progress callback."""

    WIDTH = 30
    MESSAGES = {"exporting": "preparing the fast query encoder for questions (once per model)"}

    def __init__(self, stream=None, min_interval: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.min_interval = min_interval
        self._last = 0.0
        self._stage = ""
        self._t0 = time.monotonic()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if stage != self._stage:
            if self._stage:
                self.stream.write("\n")
            self._stage, self._t0 = stage, now
        elif done < total and now - self._last < self.min_interval:
            return
        self._last = now
        label = self.MESSAGES.get(stage)
        if label is not None:  # one step without a count: say what it is, then that it is done
            self.stream.write(f"\r{stage:<9} {label}" + (" done" if done >= total else "…"))
            self.stream.flush()
            return
        frac = done / total if total else 1.0
        fill = int(frac * self.WIDTH)
        rate = done / (now - self._t0) if now > self._t0 else 0.0
        self.stream.write(
            f"\r{stage:<9} [{'#' * fill}{'.' * (self.WIDTH - fill)}] {done}/{total}"
            + (f" {rate:.0f}/s" if stage == "embedding" and rate else "")
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._stage:
            self.stream.write("\n")
            self.stream.flush()
            self._stage = ""
