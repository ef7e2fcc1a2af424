"""Time to the terminal UI's first frame, headless (bench/run.py --only ui).

Does what ``python -m tui --index INDEX --seeds SEEDS`` does, but runs the app with
``App.run_test`` (a headless driver) and prints, as JSON, the wall-clock time (``time.time()``) at
which Textual posts ``events.Ready`` -- "the DOM is ready and the first frame has been displayed".
The caller subtracts the time at which it started this process. Exits at once after that frame,
without waiting for the app's workers (opening the index, loading the model).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time


def main() -> None:
    index, seeds = sys.argv[1], sys.argv[2]
    t_main = time.time()
    from textual import events  # after t_main: the UI's imports count in its time to the first frame

    from tui.app import make_app

    app = make_app(index, seeds)
    t_app = time.time()
    stamp: dict[str, float] = {}

    def hook(message) -> None:
        if isinstance(message, events.Ready) and "ready" not in stamp:
            stamp["ready"] = time.time()

    async def go() -> None:
        async with app.run_test(headless=True, size=(100, 32), message_hook=hook):
            while "ready" not in stamp:
                await asyncio.sleep(0.001)
            sys.stdout.write(json.dumps({"main": t_main, "app_created": t_app, "ready": stamp["ready"]}) + "\n")
            sys.stdout.flush()
            os._exit(0)

    asyncio.run(go())


if __name__ == "__main__":
    main()
