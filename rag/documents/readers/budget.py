"""A time and memory budget for parsing one file: hostile files cannot take the build down.

A reader whose ``isolated`` is True (binary formats: PDF, DOCX) parses in a worker process, not in
the build's: :func:`parse_within_budget` sends the file's bytes to the worker and waits at most
``Budget.seconds``; the worker runs under an address-space limit of ``Budget.memory_bytes``. A parse
that runs out of time or memory, or crashes the worker (a segfault in a C library), raises
:class:`~rag.documents.decoding.SkipFile` with the reason; the worker is then killed and a fresh one
started for the next file. Workers are reused between files (starting one costs a Python start-up,
paid once per build) and die with this process.

The protocol is length-prefixed frames on the worker's stdin/stdout: a JSON header and the raw
bytes in; a JSON document (or a skip reason) out. No pickle.
"""

from __future__ import annotations

import atexit
import dataclasses
import importlib
import json
import os
import selectors
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.documents.decoding import SkipFile, human_size
from rag.documents.document import Block, Document

if TYPE_CHECKING:
    from rag.documents.readers.base import Reader


@dataclass(frozen=True, slots=True)
class Budget:
    """What parsing one file may take: wall-clock ``seconds`` and ``memory_bytes`` of address space
    (the worker's, interpreter included)."""

    seconds: float = 120.0
    memory_bytes: int = 4 << 30


DEFAULT_BUDGET = Budget()

_HEADER = struct.Struct("<Q")


# --------------------------------------------------------------------------- documents as JSON
def document_to_json(doc: Document) -> dict:
    """The public fields of a document (and of its blocks), for the trip between processes."""
    out = {f.name: getattr(doc, f.name) for f in dataclasses.fields(doc) if not f.name.startswith("_")}
    out["blocks"] = [[getattr(b, f.name) for f in dataclasses.fields(Block)] for b in doc.blocks]
    out["page_starts"] = list(doc.page_starts)
    return out


def document_from_json(obj: dict) -> Document:
    obj = dict(obj)
    obj["blocks"] = [Block(*b) for b in obj["blocks"]]
    obj["page_starts"] = tuple(obj["page_starts"])
    return Document(**obj)


# --------------------------------------------------------------------------- frames
def _write_frame(stream, payload: bytes) -> None:
    stream.write(_HEADER.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _read_exact(stream, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        b = stream.read(n - got)
        if not b:
            raise EOFError
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def _read_frame(stream) -> bytes:
    (n,) = _HEADER.unpack(_read_exact(stream, _HEADER.size))
    return _read_exact(stream, n)


# --------------------------------------------------------------------------- the parent's side
class _Worker:
    def __init__(self, memory_bytes: int) -> None:
        self.memory_bytes = memory_bytes
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[3])  # the folder holding the rag package
        env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rag.documents.readers.budget", str(memory_bytes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for s in (self.proc.stdin, self.proc.stdout):
            try:
                s.close()
            except OSError:
                pass

    def _read_reply(self, deadline: float) -> bytes:
        """The next frame from the worker; raises TimeoutError past ``deadline``."""
        fd = self.proc.stdout.fileno()
        buf = bytearray()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                if len(buf) >= _HEADER.size:
                    (n,) = _HEADER.unpack(bytes(buf[: _HEADER.size]))
                    if len(buf) >= _HEADER.size + n:
                        return bytes(buf[_HEADER.size : _HEADER.size + n])
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise TimeoutError
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise EOFError
                buf += chunk

    def parse(self, reader: Reader, source: str, data: bytes, seconds: float) -> Document:
        cls = type(reader)
        header = json.dumps({"module": cls.__module__, "cls": cls.__qualname__, "source": source}).encode()
        deadline = time.monotonic() + seconds
        try:
            _write_frame(self.proc.stdin, header)
            _write_frame(self.proc.stdin, data)
            reply = json.loads(self._read_reply(deadline))
        except TimeoutError:
            self.kill()
            raise SkipFile(
                f"parsing took longer than the {seconds:g} s budget; the file may be damaged or hostile"
            ) from None
        except (EOFError, OSError, ValueError):
            self.kill()
            raise SkipFile(self._death_reason()) from None
        if "skip" in reply:
            raise SkipFile(reply["skip"])
        return document_from_json(reply["document"])

    def _death_reason(self) -> str:
        code = self.proc.returncode
        if code is not None and code < 0:
            return f"the parser crashed (signal {-code}); the file may be damaged or hostile"
        return "the parser stopped unexpectedly; the file may be damaged or hostile"


_idle: list[_Worker] = []
_lock = threading.Lock()


def _take(memory_bytes: int) -> _Worker:
    with _lock:
        while _idle:
            w = _idle.pop()
            if w.alive() and w.memory_bytes == memory_bytes:
                return w
            w.kill()
    return _Worker(memory_bytes)


def _give_back(w: _Worker) -> None:
    with _lock:
        if w.alive() and len(_idle) < 2:
            _idle.append(w)
            return
    w.kill()


def shutdown() -> None:
    """Stop the idle workers (they also die with this process)."""
    with _lock:
        workers = list(_idle)
        _idle.clear()
    for w in workers:
        w.kill()


atexit.register(shutdown)


def parse_within_budget(reader: Reader, source: str, data: bytes, budget: Budget = DEFAULT_BUDGET) -> Document:
    """``reader.parse(source, data)`` in a worker process, within ``budget``.

    Raises :class:`SkipFile` when the reader skips the file, or when the parse runs out of time or
    memory or crashes (the reason says which). ``reader`` must be constructible without arguments
    (the worker makes its own).
    """
    w = _take(budget.memory_bytes)
    try:
        doc = w.parse(reader, source, data, budget.seconds)
    except SkipFile:
        _give_back(w)
        raise
    _give_back(w)
    return doc


# --------------------------------------------------------------------------- the worker's side
def _serve(memory_bytes: int) -> None:
    try:
        import resource  # POSIX only (ImportError elsewhere: the worker runs without the limit)

        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    except (ImportError, ValueError, OSError):
        pass  # no address-space limit on this platform: the time budget still holds
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    readers: dict[tuple[str, str], Reader] = {}
    while True:
        try:
            header = json.loads(_read_frame(stdin))
            data = _read_frame(stdin)
        except EOFError:
            return
        try:
            key = (header["module"], header["cls"])
            reader = readers.get(key)
            if reader is None:
                reader = readers[key] = getattr(importlib.import_module(key[0]), key[1])()
            reply = {"document": document_to_json(reader.parse(header["source"], data))}
        except SkipFile as exc:
            reply = {"skip": str(exc)}
        except MemoryError:
            reply = {"skip": f"parsing needed more than the {human_size(memory_bytes)} memory budget"}
        except RecursionError:
            reply = {"skip": "too deeply nested to parse; the file may be damaged or hostile"}
        except Exception as exc:  # a hostile file may make a parser fail in any way: skip it, say how
            reply = {"skip": f"cannot be parsed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"}
        data = None
        _write_frame(stdout, json.dumps(reply, ensure_ascii=True).encode())


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
