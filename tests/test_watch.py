"""The watch of the seeds folder (real files, the fake encoder): it catches up when it starts, survives
the folder vanishing, coming back or being replaced, and says what it does in ``status()["watch"]``."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from rag import build_index
from rag.service.state import IndexService
from rag.service.watch import WatchSettings, watch_seeds

FAST = WatchSettings(quiet_ms=50, max_wait_ms=500, check_ms=50)


def wait_for(pred, timeout: float = 30.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or pred}")


@pytest.fixture
def service(seeds: Path, tmp_path: Path, fake_encoder):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    svc = IndexService(idx, seeds, encoder=fake_encoder, retry_delay=0.0)
    yield svc
    svc.stop_watching()
    svc.wait_idle(30)


def watch_state(svc: IndexService) -> str:
    return (svc.status()["watch"] or {}).get("state", "")


def settled(svc: IndexService, files: int):
    """True once no update runs, none failed, and the current version holds ``files`` files."""
    st = svc.status()
    return st["update"]["state"] == "idle" and st["files"] == files and st["update"]["last_error"] is None


def test_no_watch_state_until_asked(service):
    assert service.status()["watch"] is None


def test_watch_catches_up_at_start(service, seeds):
    (seeds / "moon.txt").write_text("The moon orbits the earth every month.\n", encoding="utf-8")  # nothing watched yet
    service.start_watching(FAST)
    wait_for(lambda: watch_state(service) == "watching", what="watching")
    wait_for(lambda: settled(service, 4), what="the catch-up update")
    st = service.status()
    assert st["update"]["updates"] >= 1 and st["update"]["stage"] == ""
    assert service.search("moon orbits earth")["hits"][0]["source"] == "moon.txt"


@pytest.mark.parametrize("polling", [False, True], ids=["native", "polling"])
def test_watch_survives_the_folder_vanishing_and_coming_back(service, seeds, tmp_path, polling):
    backup = tmp_path / "seeds.bak"
    shutil.copytree(seeds, backup)
    service.start_watching(WatchSettings(quiet_ms=50, max_wait_ms=500, check_ms=50, force_polling=polling))
    wait_for(lambda: watch_state(service) == "watching" and settled(service, 3), what="watching")
    shutil.rmtree(seeds)
    wait_for(lambda: watch_state(service) == "waiting for the folder", what="waiting for the folder")
    service.start_update()  # a manual update meanwhile fails: the folder is gone
    wait_for(lambda: service.status()["update"]["state"] == "failed", what="the failed update")
    shutil.copytree(backup, seeds)
    (seeds / "new.txt").write_text("Penguins huddle together in the Antarctic winter.\n", encoding="utf-8")
    wait_for(lambda: settled(service, 4), what="the update after the folder came back")
    assert watch_state(service) == "watching"
    assert service.search("penguins huddle winter")["hits"][0]["source"] == "new.txt"
    (seeds / "later.txt").write_text("Owls hunt at night with silent feathers.\n", encoding="utf-8")
    wait_for(lambda: settled(service, 5), what="an update from the new folder's watch")


@pytest.mark.parametrize("polling", [False, True], ids=["native", "polling"])
def test_watch_follows_a_folder_replaced_at_once(service, seeds, tmp_path, polling):
    backup = tmp_path / "seeds.bak"
    shutil.copytree(seeds, backup)
    (backup / "new.txt").write_text("Penguins huddle together in the Antarctic winter.\n", encoding="utf-8")
    service.start_watching(WatchSettings(quiet_ms=50, max_wait_ms=500, check_ms=50, force_polling=polling))
    wait_for(lambda: watch_state(service) == "watching" and settled(service, 3), what="watching")
    shutil.rmtree(seeds)
    shutil.copytree(backup, seeds)  # rm -rf seeds; cp -a seeds.bak seeds
    wait_for(lambda: settled(service, 4), what="the update of the replaced folder")
    (seeds / "later.txt").write_text("Owls hunt at night with silent feathers.\n", encoding="utf-8")
    wait_for(lambda: settled(service, 5), what="an update from the new folder's watch")


def test_watch_started_on_a_missing_folder_waits_for_it(tmp_path):
    seeds = tmp_path / "seeds"
    states: list[str] = []
    calls: list[set[str]] = []
    stop = threading.Event()
    t = threading.Thread(target=watch_seeds, args=(seeds, calls.append),
                         kwargs={"stop": stop, "settings": FAST, "on_state": states.append})
    t.start()
    try:
        wait_for(lambda: "waiting for the folder" in states, what="waiting")
        assert calls == []
        seeds.mkdir()
        (seeds / "a.txt").write_text("a\n", encoding="utf-8")
        wait_for(lambda: calls, what="the call when the folder appears")
        assert "watching" in states
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive() and states[-1] == "stopped"


def test_watch_says_why_it_stopped(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    states: list[str] = []

    def boom(_paths):
        raise ValueError("the callback broke")

    with pytest.raises(ValueError):
        watch_seeds(seeds, boom, settings=WatchSettings(quiet_ms=50, max_wait_ms=500, check_ms=50, catch_up=True),
                    on_state=states.append)
    assert states == ["watching", "stopped: the callback broke"]


def test_stop_watching_reports_stopped(service):
    service.start_watching(FAST)
    wait_for(lambda: watch_state(service) == "watching", what="watching")
    service.stop_watching()
    wait_for(lambda: watch_state(service) == "stopped", what="stopped")


def test_watch_without_catch_up_waits_for_a_change(service, seeds):
    """The chat's watch (catch_up=False): changes made while nothing watched are left for the user."""
    (seeds / "moon.txt").write_text("The moon orbits the earth every month.\n", encoding="utf-8")
    states: list[str] = []
    service.start_watching(FAST, on_state=states.append, catch_up=False)
    wait_for(lambda: "watching" in states, what="watching")
    assert service.wait_idle(30)
    assert service.status()["update"]["updates"] == 0 and service.status()["files"] == 3
    (seeds / "owls.txt").write_text("Owls hunt at night with silent feathers.\n", encoding="utf-8")
    wait_for(lambda: settled(service, 5), what="the update after a save")
