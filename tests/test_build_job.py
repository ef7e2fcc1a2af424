"""The update's child process (rag/service/build_job.py): a time limit, its stderr in the error, it
ends with the server that started it, and a full disk says what to do."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag import build_index
from rag.errors import RagError
from rag.index.store import BuildLock
from rag.service.build_job import build_in_subprocess, failure_message
from rag.service.state import IndexService

DISK_FULL = "the disk is full: free space, then update again (the index is unchanged)"


def test_an_update_past_its_time_limit_is_killed_with_one_line(seeds, tmp_path):
    idx = tmp_path / "idx"
    with BuildLock(idx):  # the child waits for this lock: it cannot finish in time
        t0 = time.monotonic()
        with pytest.raises(RagError) as err:
            build_in_subprocess(seeds, idx, lock_wait=120.0, timeout=1.0)
    assert time.monotonic() - t0 < 60
    assert str(err.value) == "the update ran longer than 1 s and was stopped; the index is unchanged"


def test_a_crashed_update_says_what_its_stderr_said(seeds, tmp_path):
    with pytest.raises(RagError) as err:
        build_in_subprocess(seeds, tmp_path / "idx", lock_wait="soon")  # the child's float() raises: a traceback
    msg = str(err.value)
    assert "exit status 1" in msg and "ValueError" in msg and "soon" in msg
    assert "\n" not in msg


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_update_child_ends_with_its_server(seeds, tmp_path):
    idx = tmp_path / "idx"
    server = ("import sys; from rag.service.build_job import build_in_subprocess; "
              "build_in_subprocess(sys.argv[1], sys.argv[2], lock_wait=120.0)")
    with BuildLock(idx):  # the child waits for this lock, for as long as its server lives
        proc = subprocess.Popen([sys.executable, "-c", server, str(seeds), str(idx)])
        try:
            deadline = time.monotonic() + 30
            while not (kids := _children(proc.pid)) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert kids, "the server never started its update"
            time.sleep(0.5)
            assert _alive(kids[0])
            proc.kill()  # kill -9 of the server
            proc.wait()
            deadline = time.monotonic() + 15
            while _alive(kids[0]) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(kids[0]), "the update child outlived its server"
        finally:
            proc.kill()
            proc.wait()


def test_a_full_disk_says_what_to_do(seeds, tmp_path, fake_encoder):
    assert failure_message(OSError(errno.ENOSPC, "No space left on device")) == DISK_FULL
    assert failure_message(OSError(errno.EACCES, "Permission denied")) == "[Errno 13] Permission denied"
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    svc = IndexService(idx, seeds, encoder=fake_encoder, build=full, retry_delay=0.0)
    svc.start_update()
    assert svc.wait_idle(30)
    update = svc.status()["update"]
    assert update["state"] == "failed" and update["last_error"] == DISK_FULL and update["stage"] == ""


def test_a_cancelled_update_is_killed_with_one_line(seeds, tmp_path):
    import threading

    idx = tmp_path / "idx"
    cancel = threading.Event()
    with BuildLock(idx):  # the child waits for this lock: only the cancel ends it
        threading.Timer(0.5, cancel.set).start()
        with pytest.raises(RagError) as err:
            build_in_subprocess(seeds, idx, lock_wait=120.0, cancel=cancel)
    assert str(err.value) == "the update was cancelled; the index is unchanged"
