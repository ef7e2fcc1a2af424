"""The library's warnings (the ``rag`` logger) reach the UI as notifications while the app runs."""

from __future__ import annotations

import logging

from tui_support import SIZE, fake_app, run, settle, small  # noqa: F401  (fixture)


def test_library_warnings_become_notifications(small, tmp_path):
    seeds, index, enc = small
    app = fake_app(seeds, index, enc, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            logging.getLogger("rag.encoder").warning("the ONNX export is unusable\x1b[2J; using numpy")
            await pilot.pause()
            notes = [n for n in app._notifications if "ONNX export" in n.message]
            assert len(notes) == 1 and notes[0].severity == "warning"
            assert "\x1b" not in notes[0].message and "␛[2J" in notes[0].message

    run(scenario())
    # after the app ends, its handler is gone: the library is back to its NullHandler only
    assert [type(h) for h in logging.getLogger("rag").handlers] == [logging.NullHandler]
