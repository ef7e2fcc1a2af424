"""`rag mcp` over stdio as an agent's client meets it: a real process, raw lines on its stdin and
stdout. Every line it writes is JSON with no character a terminal acts on (document text comes back
as \\u escapes and parses to exactly the text), and a line that is not a JSON-RPC message gets a
JSON-RPC error instead of silence (issue 23, items 3 and 8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import ROOT
from rag.service.mcp_stdio import INVALID_REQUEST, PARSE_ERROR, rejection

HOSTILE = "C1 csi \x9b2J, del \x7f, bidi \u202eevil\u202c \u2066x\u2069 esc \x1b[31m end"
UNSAFE = set("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x1b\x7f\x9b\u202a\u202b\u202c\u202d\u202e"
             "\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


@pytest.mark.parametrize("line,code,rid", [
    ("this is not json", PARSE_ERROR, None),
    ('{"jsonrpc": "2.0", "id": 7, "method": ', PARSE_ERROR, None),
    ('{"jsonrpc": "1.0", "id": 7, "method": "ping"}', INVALID_REQUEST, 7),
    ('[1, 2, 3]', INVALID_REQUEST, None),
    ('{"id": "a", "params": {}}', INVALID_REQUEST, "a"),
])
def test_a_line_that_is_not_a_message_is_answered_with_its_error(line, code, rid):
    error = rejection(line)
    assert error is not None and error["error"]["code"] == code and error["id"] == rid
    assert error["jsonrpc"] == "2.0" and error["error"]["message"]


def test_a_message_is_served():
    assert rejection('{"jsonrpc": "2.0", "id": 1, "method": "ping"}') is None
    assert rejection('{"jsonrpc": "2.0", "method": "notifications/initialized"}') is None


class Wire:
    """A `rag mcp` process and its raw stdout lines, read by a thread (no reads that can hang a test)."""

    def __init__(self, index: Path, seeds: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen([sys.executable, "-m", "rag", "mcp", "--index", str(index), "--seeds", str(seeds)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.lines: list[bytes] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw)
                self.cond.notify_all()

    def send(self, line: str) -> None:
        self.proc.stdin.write(line.encode("utf-8") + b"\n")
        self.proc.stdin.flush()

    def answer(self, n: int, timeout: float = 120) -> bytes:
        """The n-th line written (1-based), waiting for it."""
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.lines) >= n, timeout), \
                f"no line {n} from rag mcp; stderr: {self.proc.stderr.read1(4000) if self.proc.poll() is not None else ''}"
            return self.lines[n - 1]

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.mark.e2e
@pytest.mark.slow
def test_rag_mcp_over_stdio_answers_every_line_and_escapes_document_text(tmp_path):
    from rag import build_index

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "hostile.txt").write_text(f"lighthouse keepers {HOSTILE}\n", encoding="utf-8")
    (seeds / "ships.txt").write_text("The harbour keeps three ships in winter.\n", encoding="utf-8")
    build_index(seeds, tmp_path / "idx")
    wire = Wire(tmp_path / "idx", seeds)
    try:
        wire.send("this is not json")
        parse = json.loads(wire.answer(1))
        wire.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
        init = json.loads(wire.answer(2))
        wire.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        wire.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                              "params": {"name": "get", "arguments": {"source": "hostile.txt"}}}))
        raw = wire.answer(3)
        wire.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                              "params": {"name": "search", "arguments": {"question": "lighthouse keepers", "k": 1}}}))
        found = wire.answer(4)
    finally:
        wire.close()
    assert parse["error"]["code"] == PARSE_ERROR and parse["id"] is None
    assert init["id"] == 1 and "result" in init
    text = raw.decode("utf-8")
    assert not UNSAFE & set(text), text  # the bytes on the wire
    got = json.loads(text)
    assert got["id"] == 2 and HOSTILE in got["result"]["structuredContent"]["text"]  # the exact text, once parsed
    hit = json.loads(found)["result"]["structuredContent"]["hits"][0]
    assert not UNSAFE & set(found.decode("utf-8"))
    assert hit["source"] == "hostile.txt" and "path" not in hit and str(tmp_path) not in found.decode("utf-8")
