"""What every `rag eval` mode does around its own work: a progress bar while it runs, then one JSON
object or its text report."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable


def run_and_print(compute: Callable[[object], dict | list], as_json: bool, text: Callable[[dict | list], str]) -> int:
    """Run ``compute(progress_bar)``; print its result as JSON or as ``text(result)`` (shown safely)."""
    from rag.progress import ProgressBar
    from rag.terminal_text import terminal_safe

    bar = ProgressBar()
    try:
        res = compute(bar)
    finally:
        bar.close()
    if as_json:
        sys.stdout.write(json.dumps(res) + "\n")
    else:
        print(terminal_safe(text(res)))
    return 0
