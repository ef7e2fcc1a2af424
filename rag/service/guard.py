"""The checks every HTTP request passes before the API sees it (an ASGI middleware), in order:

- the Host header, when the server is bound to loopback: only the names of this machine and the
  bound address (a web page that rebinds its name to 127.0.0.1 cannot call the API) -> 403;
- the Origin header, sent by browsers: a request from a web page of another site is refused unless
  ``--cors`` allows that site, whatever its method and content type -> 403 (a browser's "simple"
  POST skips the CORS preflight, so the browser alone does not stop it);
- the media type: a request body must be ``application/json`` (an HTML form or a ``text/plain``
  fetch cannot send that without a preflight) -> 415;
- the bearer token, when the server has one (compared in constant time) -> 401; except a ``GET`` or
  ``HEAD`` of one of ``public_paths`` (the web page and its static files, exact paths: they hold no
  data, and the page asks for the token itself before it calls the API);
- the body size (a declared length over the limit is refused at once; a streamed body is counted) -> 413;
- any unexpected error becomes ``500 {"error": "..."}``: no traceback reaches a client.

Starlette's ``CORSMiddleware`` wraps this guard (:func:`rag.service.http.create_app`): a preflight
from an allowed origin is answered before the token is asked for (a preflight never carries it),
and every error below, 401 included, carries the CORS headers that origin needs to read it.

Why not Starlette's ``TrustedHostMiddleware`` and FastAPI's ``HTTPBearer``: the first answers
``400 Invalid host header`` in plain text, where every error of this API is one JSON line; the
second is a route dependency, and ``/mcp`` (the MCP SDK's own Starlette routes) and
``/openapi.json`` are outside FastAPI's dependencies: one check here covers every path.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable

from rag.service.responses import error_response, one_line

log = logging.getLogger("rag.service")

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_DEFAULT_PORTS = {"http": "80", "https": "443"}


class _TooLarge(Exception):
    pass


def origin_key(origin: str, scheme: str | None = None) -> str:
    """``scheme://host[:port]`` in lower case, without a default port and a final slash."""
    o = origin.strip().lower().rstrip("/")
    if scheme is not None:
        o = f"{scheme.lower()}://{o}"
    s, sep, rest = o.partition("://")
    port = _DEFAULT_PORTS.get(s)
    if sep and port and rest.endswith(":" + port):
        o = o[: -len(port) - 1]
    return o


class Guard:
    def __init__(self, app, token: str | None = None, allowed_hosts: Iterable[str] | None = None,
                 allowed_origins: Iterable[str] = (), max_body: int = 65536,
                 public_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.token = token.encode("utf-8") if token else None
        self.allowed_hosts = {h.lower() for h in allowed_hosts} if allowed_hosts is not None else None
        self.allowed_origins = {origin_key(o) for o in allowed_origins}
        self.max_body = max_body
        self.public_paths = frozenset(public_paths)

    def _refusal(self, scope, headers: dict[str, bytes]):
        """``(status, message, extra headers)`` for a request that does not pass, else None."""
        host = headers.get("host", b"").decode("latin-1").lower()
        if self.allowed_hosts is not None:
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in self.allowed_hosts and host not in self.allowed_hosts:
                return 403, "this server answers only requests addressed to this machine (Host header)", None
        origin = headers.get("origin")
        if origin is not None:
            o = origin_key(origin.decode("latin-1"))
            own = origin_key(host, scope.get("scheme", "http"))
            if o != own and o not in self.allowed_origins and "*" not in self.allowed_origins:
                return 403, (f"requests from web pages of {one_line(o)[:100]} are refused; start the server with "
                             "--cors ORIGIN to let a site call it"), None
        if scope["method"] in _BODY_METHODS:
            ctype = headers.get("content-type")
            media = ctype.decode("latin-1").split(";", 1)[0].strip().lower() if ctype is not None else None
            has_body = headers.get("content-length", b"0").strip() not in (b"0", b"") or "transfer-encoding" in headers
            if media != "application/json" and (media is not None or has_body):
                return 415, "send the request body as JSON, with the header `Content-Type: application/json`", None
        public = scope["method"] in ("GET", "HEAD") and scope.get("path") in self.public_paths
        if self.token is not None and not public:
            scheme, _, given = headers.get("authorization", b"").partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self.token):
                return 401, "missing or wrong token: send the header `Authorization: Bearer TOKEN`", {"WWW-Authenticate": "Bearer"}
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[str, bytes] = {}
        for k, v in scope.get("headers", []):
            headers.setdefault(k.decode("latin-1").lower(), v)
        refused = self._refusal(scope, headers)
        if refused is not None:
            status, message, extra = refused
            await error_response(status, message, extra)(scope, receive, send)
            return
        length = headers.get("content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                await error_response(400, "Content-Length is not a number")(scope, receive, send)
                return
            if n > self.max_body:
                await error_response(413, f"the request body is over {self.max_body} bytes")(scope, receive, send)
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
                    await error_response(413, f"the request body is over {self.max_body} bytes")(scope, receive, send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await error_response(413, f"the request body is over {self.max_body} bytes")(scope, receive, send)
        except Exception as exc:  # noqa: BLE001 - the boundary: one JSON line, never a traceback
            log.warning("request %s %s failed: %s: %s", scope.get("method"), scope.get("path"), type(exc).__name__,
                        one_line(exc))
            if not started:
                await error_response(500, f"internal error ({type(exc).__name__}); the server log has the details")(
                    scope, receive, send)
