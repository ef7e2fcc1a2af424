"""`rag index --watch` as a user runs it (real model): "watching" is printed once the watch runs (a file
saved right after it is indexed), and the watch outlives its seeds folder being replaced."""

from __future__ import annotations

import shutil
import time

import pytest

from conftest import SEED_ARTICLE
from test_service_e2e import start_index_watch, stop

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def files_indexed(index) -> set[str]:
    from rag.index import store

    _, m = store.open_meta(index)
    return set(m["files"])


def wait_files(index, want: set[str], timeout: float = 120.0) -> set[str]:
    deadline = time.monotonic() + timeout
    got = files_indexed(index)
    while time.monotonic() < deadline and got != want:
        time.sleep(0.2)
        got = files_indexed(index)
    return got


def test_rag_index_watch_prints_watching_once_it_watches_and_survives_the_folder(tmp_path):
    from rag import build_index

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEED_ARTICLE, seeds / SEED_ARTICLE.name)
    backup = tmp_path / "seeds.bak"
    shutil.copytree(seeds, backup)
    index = tmp_path / "index"
    build_index(seeds, index)
    proc, lines, watching = start_index_watch(seeds, index)
    try:
        assert watching.wait(120), lines
        # no grace period: the watch exists once "watching" is printed
        (seeds / "owls.txt").write_text("Owls hunt at night with silent feathers.\n", encoding="utf-8")
        assert wait_files(index, {SEED_ARTICLE.name, "owls.txt"}) == {SEED_ARTICLE.name, "owls.txt"}, lines
        shutil.rmtree(seeds)  # rm -rf seeds; cp -a seeds.bak seeds; echo x > seeds/new.txt
        shutil.copytree(backup, seeds)
        (seeds / "new.txt").write_text("Penguins huddle together in the Antarctic winter.\n", encoding="utf-8")
        assert wait_files(index, {SEED_ARTICLE.name, "new.txt"}) == {SEED_ARTICLE.name, "new.txt"}, lines
        assert proc.poll() is None, lines
    finally:
        err = stop(proc)
    assert "Traceback" not in "".join(lines) + err
