"""The web page of `rag serve`: ``GET /`` and its static files, shipped in this folder.

Plain files, no build step and nothing from another site: ``index.html``, ES modules and one
stylesheet, read once when the app is made and served from memory. Every page response carries a
strict Content-Security-Policy (scripts, styles, images and requests from this origin only; no
inline script or style; no framing), ``X-Content-Type-Options: nosniff`` and
``Referrer-Policy: no-referrer``. The page and its files hold no data: :mod:`rag.service.guard`
lets them be read without the token (the API still asks for it), after the Host and Origin checks.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

WEB_DIR = Path(__file__).resolve().parent

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def page_files(folder: Path = WEB_DIR) -> dict[str, tuple[bytes, str]]:
    """URL path -> (bytes, media type) of every file of the page: ``/`` for ``index.html``,
    ``/static/NAME`` for the others."""
    files: dict[str, tuple[bytes, str]] = {}
    for f in sorted(folder.iterdir()):
        media = _TYPES.get(f.suffix)
        if media is None or not f.is_file():
            continue
        url = "/" if f.name == "index.html" else f"/static/{f.name}"
        files[url] = (f.read_bytes(), media)
    return files


def page_routes(files: dict[str, tuple[bytes, str]]) -> list[Route]:
    """One route per file (GET and HEAD), outside the OpenAPI document."""

    def endpoint_for(body: bytes, media: str):
        async def endpoint(request: Request) -> Response:
            return Response(body, media_type=media, headers=PAGE_HEADERS)

        return endpoint

    return [Route(url, endpoint_for(body, media), methods=["GET", "HEAD"], include_in_schema=False)
            for url, (body, media) in files.items()]
