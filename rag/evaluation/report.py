"""What every `rag eval` mode does around its own work: a progress bar while it runs, then one JSON
object or its text report."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence

from rag.progress import ProgressBar
from rag.terminal_text import terminal_safe


def run_and_print(compute: Callable[[object], dict | list], as_json: bool, text: Callable[[dict | list], str]) -> int:
    """Run ``compute(progress_bar)``; print its result as JSON or as ``text(result)`` (shown safely)."""
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


def print_per_mode(compute: Callable[[str, object], dict], modes: Sequence[str], as_json: bool,
                   text: Callable[[dict], str]) -> int:
    """:func:`run_and_print` of ``compute(mode, progress_bar)`` for each of ``modes``, one bar for all:
    one JSON object for one mode, a list for several; the text reports a blank line apart."""

    def each(bar) -> dict | list:
        results = [compute(mode, bar) for mode in modes]
        return results if len(results) > 1 else results[0]

    return run_and_print(each, as_json, lambda res: "\n\n".join(map(text, res if isinstance(res, list) else [res])))
