"""`rag serve`: the HTTP JSON API (FastAPI on uvicorn) over one :class:`~rag.service.state.IndexService`.

Endpoints: ``POST /search``, ``GET /documents/{source}``, ``GET /files/{source}`` (the original
file, :class:`OriginalResponse`), ``GET /status``, ``GET /health``,
``POST /index``; the OpenAPI document at ``/openapi.json``; the MCP server at ``/mcp`` when given;
the web page at ``/`` and its files at ``/static/`` (:mod:`rag.service.web`).
Every error is ``{"error": "one line"}`` with its status code; every body is written by
:class:`~rag.service.responses.SafeJSONResponse`. :mod:`rag.service.guard` applies the Host, Origin,
media type, token and body-size checks to every request, ``/mcp`` included, inside Starlette's
``CORSMiddleware`` when ``--cors`` names origins (the page and its files need no token).
"""

from __future__ import annotations

import contextlib
from typing import Literal
from urllib.parse import quote

import anyio

from fastapi import FastAPI, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.routing import Route

from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError, QuestionError, RagError
from rag.service.document_reads import DocumentReads, DocumentsBusy, OpenedOriginal
from rag.service.documents import DocumentNotFound, DocumentPathError
from rag.search.limits import LIMITS, checked_request
from rag.service.guard import Guard, origin_key
from rag.service.responses import EscapedJSONBodies, SafeJSONResponse, error_response
from rag.service.web import page_files, page_routes
from rag.version import __version__


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=LIMITS.max_question_chars, description="the question, in plain words")
    k: int = Field(5, ge=1, le=LIMITS.max_k, description="how many passages")
    mode: Literal["hybrid", "dense", "bm25"] = Field("hybrid", description="hybrid: meaning and words; dense; bm25")
    history: list[str] = Field(default_factory=list,
                               description=f"earlier questions of the conversation, oldest first (optional; the "
                                           f"{LIMITS.max_history} most recent are read)")
    history_answers: list[str | None] | None = Field(
        None,
        description="the passage text shown as the answer to each earlier question, null where none (optional; "
                    "as many as history)")


class ErrorBody(BaseModel):
    error: str


_ERRORS = {400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 413: {"model": ErrorBody},
           422: {"model": ErrorBody}, 503: {"model": ErrorBody}}


# An original file is never active content of this origin: a sandbox (a unique origin: no script,
# no form, no plugin, no access to the API or the page's storage) that may load nothing, and a media
# type the browser may not second-guess. Chromium's PDF viewer still shows a PDF served so.
FILE_CSP = "sandbox; default-src 'none'"
_ORIGINAL_TYPES = {"application/pdf": {}, "text/plain": {}, "application/octet-stream": {}}


class OriginalResponse(Response):
    """An original file (:class:`~rag.service.document_reads.OpenedOriginal`) sent in chunks, its
    slot and handle given back when it is sent, when the client goes, or after ``send_s`` seconds.
    ``inline`` types (PDF, plain text) may be shown; every other file is ``application/octet-stream``
    and ``attachment`` (HTML is never served as ``text/html``)."""

    def __init__(self, opened: OpenedOriginal, send_s: float) -> None:
        self.opened = opened
        self.send_s = send_s
        self.status_code = 200
        self.background = None
        f = opened.file
        safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in f.name)
        headers = {
            "content-type": f.media_type,
            "content-length": str(f.size),
            "content-disposition": f"{'inline' if f.inline else 'attachment'}; filename=\"{safe}\"; "
                                   f"filename*=UTF-8''{quote(f.name, safe='')}",
            "content-security-policy": FILE_CSP,
            "x-content-type-options": "nosniff",
            "cross-origin-resource-policy": "same-origin",
            "referrer-policy": "no-referrer",
            "cache-control": "no-store",
        }
        self.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

    async def __call__(self, scope, receive, send) -> None:
        try:
            with anyio.fail_after(self.send_s):
                await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
                async for chunk in self.opened.chunks():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.opened.close()


def _status_of(exc: RagError) -> int:
    if isinstance(exc, DocumentNotFound):
        return 404
    if isinstance(exc, (DocumentPathError, QuestionError)):
        return 400
    if isinstance(exc, (IndexMissingError, IndexCorruptError, IndexMismatchError)):
        return 503
    return 400


def create_app(service, *, token: str | None = None, allowed_hosts: list[str] | None = None, cors: list[str] | None = None,
               mcp=None, max_body: int = 64 * 1024, bind_host: str = "127.0.0.1",
               documents: DocumentReads | None = None) -> FastAPI:
    """The API over ``service``. ``token``: every request must send ``Authorization: Bearer TOKEN``.
    ``allowed_hosts``: the Host header values accepted besides ``bind_host`` (None: any).
    ``cors``: origins of web pages allowed to call (none by default: a request from a page of another
    site is refused). ``mcp``: an ``MCPServer`` served at ``/mcp``; ``bind_host``: the address the
    server binds; ``documents``: the bounds on reading documents (give the one ``mcp`` was built
    with, so that both share them). :mod:`rag.service.guard` says what every request is checked for."""
    documents = DocumentReads() if documents is None else documents
    if allowed_hosts is not None:
        allowed_hosts = [*allowed_hosts, bind_host, f"[{bind_host}]"] if ":" in bind_host else [*allowed_hosts, bind_host]
    origins = [origin_key(o) for o in cors or []]  # as browsers send them: lower case, no default port

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if mcp is None:
            yield
        else:
            async with mcp.session_manager.run():
                yield

    # No /docs or /redoc: FastAPI's pages load Swagger UI and ReDoc from a CDN, and this tool works
    # offline (no package here ships their files). /openapi.json is the contract.
    app = FastAPI(title="rag", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  default_response_class=SafeJSONResponse,
                  description="Ask questions about a folder of documents; every answer cites file and lines.")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errs = exc.errors()
        if errs:
            e = errs[0]
            where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body",)) or "request"
            return error_response(422, f"{where}: {e.get('msg', 'invalid')}")
        return error_response(422, "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return error_response(exc.status_code, exc.detail)

    @app.exception_handler(DocumentsBusy)
    async def _busy(request: Request, exc: DocumentsBusy):
        return error_response(503, exc, headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(RagError)
    async def _rag(request: Request, exc: RagError):
        return error_response(_status_of(exc), exc)

    @app.post("/search", responses=_ERRORS, summary="the passages that best answer a question (as `rag ask --json`)",
              description="Returns `{question, mode, k, index, version, history, verdict, found, confidence, follow_up, hits}`. "
                          "Read `verdict` first: `answer` (the documents answer the question; `found` is true only "
                          "then), `weak` (the best passage is related but may not answer it: show it as weak) or "
                          "`not_found` (not in the documents: say so rather than answer from the hits). "
                          "`confidence` (0-1) is the verdict's, the best hit's estimated probability of answering. "
                          "`hits` are the nearest passages, best first, in every case; each has its `citation`, "
                          "`text`, `confidence` and `answer` sentence.")
    async def search(req: SearchRequest) -> dict:
        r = checked_request(req.question, req.k, req.mode, req.history, req.history_answers)  # the limits MCP and Ray share
        return await run_in_threadpool(service.search, r.question, r.k, r.mode, list(r.history),
                                       None if r.history_answers is None else list(r.history_answers))

    @app.get("/documents/{source:path}", responses={**_ERRORS, 404: {"model": ErrorBody}},
             summary="lines of a cited document, read as the index read them")
    async def document(
        source: str = PathParam(description="the document's path relative to the seeds folder, as cited"),
        start: int = Query(1, ge=1, le=10_000_000, description="first line (1-based)"),
        end: int | None = Query(None, ge=1, le=10_000_000, description="last line (inclusive; default start+49)"),
        page: int | None = Query(None, ge=1, le=1_000_000, description="page, for paged formats (PDF)"),
    ) -> dict:
        # at most a few reads at once; 503 with Retry-After when they stay taken (DocumentReads)
        d = await documents.read_lines(service.seeds_root, source, start, end, page)
        return d.to_dict()

    @app.get("/files/{source:path}", response_class=OriginalResponse, status_code=200,
             responses={200: {"content": _ORIGINAL_TYPES, "description": "the file's bytes"}, **_ERRORS,
                        404: {"model": ErrorBody}},
             summary="the original file of a cited document (PDF and plain text to show; any other to save)",
             description="Opened as `/documents/` opens it (inside the seeds folder; links out refused), "
                         "only a format the index reads, at most 16 MiB. PDF is `application/pdf`, "
                         "`.txt` and `.md` are `text/plain`, every other format (HTML and DOCX included) "
                         "is `application/octet-stream` with `Content-Disposition: attachment`; every "
                         "file is sent with `Content-Security-Policy: sandbox` and `nosniff`.")
    async def original(
        source: str = PathParam(description="the document's path relative to the seeds folder, as cited"),
    ) -> OriginalResponse:
        # the same read slots as /documents (503 with Retry-After when taken), held while it is sent
        return OriginalResponse(await documents.open_original(service.seeds_root, source), documents.limits.send_s)

    @app.get("/status", summary="what is indexed, what changed since, which encoder, the update's progress")
    async def status() -> dict:
        return await run_in_threadpool(service.status)

    @app.get("/health", responses={503: {"model": ErrorBody}},
             summary="200 while the server can search; 503 with the reason when it cannot (a damaged index)")
    async def health() -> dict:
        version = service.retriever.version_dir.name
        problem = await run_in_threadpool(service.health)
        if problem is not None:
            return error_response(503, f"this server cannot search: {problem}")
        return {"ok": True, "version": version}

    @app.post("/index", status_code=202, summary="start an incremental update (returns at once; see /status)")
    async def index() -> dict:
        started = service.start_update()
        return {"started": started, "queued": not started}

    page = page_files()
    app.router.routes.extend(page_routes(page))

    if mcp is not None:
        from mcp.server.transport_security import TransportSecuritySettings  # the SDK: only when MCP is served

        # The guard checks Host and Origin on /mcp as on every path (the same rule, --cors included);
        # the SDK's own check would refuse the origins that --cors allows.
        mcp_app = mcp.streamable_http_app(streamable_http_path="/mcp", host=bind_host,
                                          transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        for route in mcp_app.routes:  # not in the OpenAPI document: MCP has its own schema
            if isinstance(route, Route) and route.path == "/mcp":  # its JSON escaped as the API's
                route = Route("/mcp", endpoint=EscapedJSONBodies(route.endpoint))
            app.router.routes.append(route)

    # Added first, so inside CORS: a preflight from an allowed origin is answered before the guard
    # asks for the token, and the guard's errors carry the CORS headers.
    app.add_middleware(Guard, token=token, allowed_hosts=allowed_hosts, allowed_origins=origins, max_body=max_body,
                       public_paths=page)
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Mcp-Session-Id", "Mcp-Protocol-Version",
                                          "Last-Event-ID"],
                           expose_headers=["Mcp-Session-Id", "WWW-Authenticate"])
    return app
