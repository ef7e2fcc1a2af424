"""The checks every HTTP request passes first (an ASGI middleware, outermost):

- the bearer token, when the server has one (compared in constant time, :func:`hmac.compare_digest`);
- the Host header, when the server is bound to loopback (a web page that rebinds its name to
  127.0.0.1 cannot call the API);
- the body size (a declared length over the limit is refused at once; a streamed body is counted);
- any unexpected error becomes ``500 {"error": "..."}``: no traceback reaches a client.
"""

from __future__ import annotations

import hmac
import json
import logging

from rag.terminal_text import terminal_line

log = logging.getLogger("rag.service")


def one_line(message: object) -> str:
    """An error message as one safe line (no newlines or control characters), at most 500 characters."""
    text = terminal_line(" ".join(str(message).split())) or "error"
    return text[:500]


class _TooLarge(Exception):
    pass


class Guard:
    def __init__(self, app, token: str | None = None, allowed_hosts: list[str] | None = None, max_body: int = 65536) -> None:
        self.app = app
        self.token = token.encode("utf-8") if token else None
        self.allowed_hosts = {h.lower() for h in allowed_hosts} if allowed_hosts else None
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {}
        for k, v in scope.get("headers", []):
            headers.setdefault(k.decode("latin-1").lower(), v)
        if self.allowed_hosts is not None:
            host = headers.get("host", b"").decode("latin-1").lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in self.allowed_hosts and host not in self.allowed_hosts:
                await _send_error(send, 403, "this server answers only requests addressed to localhost (Host header)")
                return
        if self.token is not None:
            auth = headers.get("authorization", b"")
            scheme, _, given = auth.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self.token):
                await _send_error(send, 401, "missing or wrong token: send the header `Authorization: Bearer TOKEN`",
                                  extra=[(b"www-authenticate", b"Bearer")])
                return
        length = headers.get("content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                await _send_error(send, 400, "Content-Length is not a number")
                return
            if n > self.max_body:
                await _send_error(send, 413, f"the request body is over {self.max_body} bytes")
                return
        seen = 0
        started = False
        too_large = False

        async def counted_receive():
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    too_large = True
                    raise _TooLarge
            return message

        async def tracked_send(message):
            nonlocal started
            if too_large:  # the app answered the cut-off body its own way: the answer is 413
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _send_error(send, 413, f"the request body is over {self.max_body} bytes")
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await _send_error(send, 413, f"the request body is over {self.max_body} bytes")
        except Exception as exc:  # noqa: BLE001 - the boundary: one JSON line, never a traceback
            log.warning("request %s %s failed: %s: %s", scope.get("method"), scope.get("path"), type(exc).__name__,
                        one_line(exc))
            if not started:
                await _send_error(send, 500, f"internal error ({type(exc).__name__}); the server log has the details")


async def _send_error(send, status: int, message: str, extra: list | None = None) -> None:
    body = json.dumps({"error": one_line(message)}).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
