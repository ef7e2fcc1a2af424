"""Save docs/screenshot.svg: the app answering the participants question on the shipped seeds.

Run from the repository root: ``.venv/bin/python docs/make_screenshot.py`` (builds the index of
seeds/ into indexes/default first if there is none).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tui.app import make_app  # noqa: E402

QUESTION = "How many participants and observers are expected in Sochi?"
SIZE = (110, 34)


async def main(out: Path) -> None:
    app = make_app(
        ROOT / "indexes" / "default", ROOT / "seeds", history_path=None, cursor_blink=False,
        index_label="indexes/default", seeds_label="seeds/", remember_settings=False,
    )
    async with app.run_test(size=SIZE) as pilot:
        while app.retriever is None or app.building or any(not w.is_finished for w in app.workers):
            await pilot.pause(0.1)
        app.question_box.value = QUESTION
        await pilot.press("enter")
        while not app.exchanges[-1].done or any(not w.is_finished for w in app.workers):
            await pilot.pause(0.1)
        await pilot.press("tab")  # show the first passage selected
        await pilot.pause(0.3)
        app.save_screenshot(filename=out.name, path=str(out.parent))
    print(f"saved {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main(ROOT / "docs" / "screenshot.svg"))
