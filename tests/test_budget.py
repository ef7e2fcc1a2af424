"""The parsing budget: a reader marked ``isolated`` parses in a worker process within a time and
memory budget; a file that runs over, crashes the parser or makes it fail is skipped with the reason,
and the next file is parsed by a fresh worker."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import hostile_readers as hr
from rag.documents.decoding import SkipFile
from rag.documents.readers import budget

HERE = str(Path(__file__).resolve().parent)


@pytest.fixture(autouse=True)
def worker_sees_tests(monkeypatch):
    """The worker imports the readers by module name: put this folder on its path (and start a
    fresh worker, with that environment)."""
    budget.shutdown()
    monkeypatch.setenv("PYTHONPATH", HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    yield
    budget.shutdown()


def test_documents_make_the_round_trip_through_the_worker():
    doc = hr.Echo().load("e.bin", b"first line\nsecond\nthird")
    assert doc.text == "first line\nsecond\nthird"
    assert doc.page_starts == (0, 11, 18) and doc.pages == 3
    assert [(b.char_start, b.char_end, b.section) for b in doc.blocks] == [(0, 10, "A > B")]
    assert doc.warning == "a warning" and doc.source == "e.bin"


@pytest.mark.slow
def test_a_parser_that_never_returns_is_stopped_at_the_deadline():
    with pytest.raises(SkipFile, match=r"longer than the 2 s budget"):
        hr.Sleepy().load("loop.bin", b"x")
    # the stuck worker was killed; the next file gets a fresh one
    assert hr.Echo().load("e.bin", b"after").text == "after"


def test_a_parser_that_crashes_the_process_skips_only_that_file():
    with pytest.raises(SkipFile, match=r"the parser crashed \(signal 6\)"):
        hr.Crashing().load("crash.bin", b"x")
    assert hr.Echo().load("e.bin", b"after").text == "after"


@pytest.mark.skipif(sys.platform != "linux", reason="the address-space limit is set with setrlimit on Linux")
def test_a_parser_that_wants_too_much_memory_is_stopped():
    with pytest.raises(SkipFile, match=r"more than the 1 GB memory budget"):
        hr.Hungry().load("bomb.bin", b"x")
    assert hr.Echo().load("e.bin", b"after").text == "after"


def test_an_unexpected_parser_error_is_a_reason_not_a_crash():
    with pytest.raises(SkipFile, match=r"cannot be parsed: ValueError: unexpected token at byte 7"):
        hr.Failing().load("bad.bin", b"x")


def test_workers_are_reused_between_files():
    hr.Echo().load("a.bin", b"a")
    first = list(budget._idle)
    hr.Echo().load("b.bin", b"b")
    assert first and budget._idle == first and first[0].alive()


def test_text_readers_parse_in_process():
    from rag.documents.readers.text import PlainTextReader

    assert PlainTextReader.isolated is False
    budget.shutdown()
    PlainTextReader().load("a.txt", b"hello")
    assert budget._idle == []  # no worker was started
