"""`rag mcp`'s transport: MCP over stdin and stdout, one JSON-RPC message a line, as the SDK's
``stdio_server``, with what that one lacks:

- every line written is JSON whose bytes hold no character a terminal acts on (control, C1, DEL,
  bidi: :func:`rag.terminal_text.json_escaped`), as the HTTP API and ``/mcp`` write theirs: document
  text reaches an agent's log or terminal as ``\\uXXXX``, and parses to exactly the text;
- a line that is not a JSON-RPC message is answered with a JSON-RPC error (-32700 "parse error",
  -32600 "invalid request"), where the SDK stays silent and the client waits forever.

While it serves, fd 0 reads the null device and fd 1 writes to stderr (the SDK's own rule), so a
stray ``print`` of a handler or a child process never corrupts the wire; both are restored on exit.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from io import TextIOWrapper

import anyio
import mcp_types
from mcp.server.stdio import stdio_server
from pydantic import ValidationError

from rag.terminal_text import json_dumps, json_escaped

PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def rejection(line: str) -> dict | None:
    """The JSON-RPC error answering ``line``, or None when it is a JSON-RPC message to serve."""
    try:
        obj = json.loads(line)
    except ValueError:
        return _error(None, PARSE_ERROR, "parse error: each line must be one JSON-RPC message (JSON)")
    try:
        mcp_types.jsonrpc_message_adapter.validate_python(obj, by_name=False)
    except ValidationError:
        rid = obj.get("id") if isinstance(obj, dict) else None
        rid = rid if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None
        return _error(rid, INVALID_REQUEST, "invalid request: not a JSON-RPC 2.0 request, notification or response")
    return None


def _error(rid, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


class EscapedLines:
    """The wire's writing side: each line escaped, written and flushed whole (one writer at a time,
    so an error answered by the reader never splits a line of the server's)."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self._lock = anyio.Lock()

    async def write(self, text: str) -> None:
        async with self._lock:
            await self._stream.write(json_escaped(text))
            await self._stream.flush()

    async def flush(self) -> None:  # each write is flushed already
        return None


class Messages:
    """The wire's reading side: the lines that are JSON-RPC messages; every other non-blank line is
    answered with its error on ``out`` and goes no further."""

    def __init__(self, lines, out: EscapedLines) -> None:
        self._lines = lines
        self._out = out

    def __aiter__(self) -> AsyncIterator[str]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[str]:
        async for line in self._lines:
            if not line.strip():
                continue
            error = rejection(line)
            if error is None:
                yield line
            else:
                await self._out.write(json_dumps(error) + "\n")


@asynccontextmanager
async def escaped_stdio():
    """``(read_stream, write_stream)`` of the SDK's session over this process's stdin and stdout."""
    sys.stdout.flush()
    wire_in, wire_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)  # stray output goes to stderr, not onto the wire
    try:
        # closefd=False: the reading thread may still block on the descriptor when serving ends
        reader = TextIOWrapper(os.fdopen(wire_in, "rb", closefd=False), encoding="utf-8", errors="replace")
        writer = TextIOWrapper(os.fdopen(wire_out, "wb", closefd=False), encoding="utf-8")
        out = EscapedLines(anyio.wrap_file(writer))
        async with stdio_server(stdin=Messages(anyio.wrap_file(reader), out), stdout=out) as streams:
            yield streams
    finally:
        os.dup2(wire_in, 0)
        os.dup2(wire_out, 1)


async def serve_stdio(server) -> None:
    """Serve ``server`` (an ``MCPServer``) over :func:`escaped_stdio` until stdin closes."""
    low = server._lowlevel_server  # the SDK's run_stdio_async, over this transport instead of its own
    async with escaped_stdio() as (read_stream, write_stream):
        await low.run(read_stream, write_stream, low.create_initialization_options())
