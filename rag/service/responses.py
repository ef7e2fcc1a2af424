"""JSON as the service writes it: every character a terminal or a text view could act on escaped.

Document text, file names and questions may hold control characters, C1 controls (U+009B opens a
terminal sequence), DEL and bidi controls ("Trojan Source"). A client that prints a response raw
must not be driven by them, so every response body is written by
:func:`rag.terminal_text.json_dumps`, as ``rag ask --json`` writes its output: the parsed value is
exactly the text, the bytes hold none of those characters (they are ``\\uXXXX`` escapes).
"""

from __future__ import annotations

import codecs

from starlette.responses import JSONResponse

from rag.terminal_text import json_dumps, json_escaped, terminal_line


class SafeJSONResponse(JSONResponse):
    """The JSON response of every endpoint and every error, marked ``nosniff``: a browser never reads
    it as anything but JSON (a page of another site that loads it as a script or a style gets nothing)."""

    def __init__(self, content, status_code: int = 200, headers: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(content, status_code, {"X-Content-Type-Options": "nosniff", **(headers or {})}, **kwargs)

    def render(self, content) -> bytes:
        return json_dumps(content).encode("utf-8")


def one_line(message: object) -> str:
    """An error message as one safe line (no newlines or control characters), at most 500 characters."""
    text = terminal_line(" ".join(str(message).split())) or "error"
    return text[:500]


def error_response(status: int, message: object, headers: dict[str, str] | None = None) -> SafeJSONResponse:
    """``{"error": "one line"}`` with ``status``."""
    return SafeJSONResponse({"error": one_line(message)}, status_code=status, headers=headers)


class EscapedJSONBodies:
    """ASGI: the wrapped app's JSON and server-sent-event bodies written as :class:`SafeJSONResponse`
    writes its own (:func:`~rag.terminal_text.json_escaped`), chunk by chunk, for the MCP SDK's
    ``/mcp``, whose JSON the SDK serializes itself. The length of a body changes: its
    ``Content-Length`` is dropped (the server sends it chunked)."""

    _TYPES = (b"application/json", b"text/event-stream")

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        decoder = None

        async def escaping_send(message):
            nonlocal decoder
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if ctype.split(b";", 1)[0].strip().lower() in self._TYPES:
                    decoder = codecs.getincrementaldecoder("utf-8")("replace")  # a character may span two chunks
                    message = {**message, "headers": [(k, v) for k, v in headers if k.lower() != b"content-length"]}
            elif message["type"] == "http.response.body" and decoder is not None:
                text = decoder.decode(message.get("body", b""), final=not message.get("more_body", False))
                message = {**message, "body": json_escaped(text).encode("utf-8")}
            await send(message)

        await self.app(scope, receive, escaping_send)
