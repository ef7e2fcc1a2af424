"""JSON as the service writes it: every character a terminal or a text view could act on escaped.

Document text, file names and questions may hold control characters, C1 controls (U+009B opens a
terminal sequence), DEL and bidi controls ("Trojan Source"). A client that prints a response raw
must not be driven by them, so every response body is written by
:func:`rag.terminal_text.json_dumps`, as ``rag ask --json`` writes its output: the parsed value is
exactly the text, the bytes hold none of those characters (they are ``\\uXXXX`` escapes).
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from rag.terminal_text import json_dumps, terminal_line


class SafeJSONResponse(JSONResponse):
    """The JSON response of every endpoint and every error."""

    def render(self, content) -> bytes:
        return json_dumps(content).encode("utf-8")


def one_line(message: object) -> str:
    """An error message as one safe line (no newlines or control characters), at most 500 characters."""
    text = terminal_line(" ".join(str(message).split())) or "error"
    return text[:500]


def error_response(status: int, message: object, headers: dict[str, str] | None = None) -> SafeJSONResponse:
    """``{"error": "one line"}`` with ``status``."""
    return SafeJSONResponse({"error": one_line(message)}, status_code=status, headers=headers)
