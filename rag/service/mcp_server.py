"""`rag mcp`: the Model Context Protocol server (official SDK, ``mcp``) over one
:class:`~rag.service.state.IndexService`; over stdio (`rag mcp`) or streamable HTTP (``/mcp`` of
`rag serve`). Tools: ``search``, ``get``, ``status``, and ``reindex`` only with write access.
"""

from __future__ import annotations

from typing import Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.concurrency import run_in_threadpool

from rag.errors import RagError
from rag.search.limits import checked_request
from rag.service.document_reads import DocumentReads
from rag.version import __version__

INSTRUCTIONS = """\
This server searches a folder of the user's documents (offline) and returns passages with exact
citations. A citation names a file relative to the documents folder and its lines, e.g.
"notes/ships.md:12-14" (lines 12 to 14), "report.txt:7:5-80" (line 7, characters 5-80) or
"paper.pdf:p3:10-12" (page 3, lines 10-12 of that page). Call `search` with the user's question;
read the result's `verdict` first ("answer", "weak": may not answer, "not_found": not in the
documents, so say so instead of answering); quote the passages you rely on with their citations; to read more around a passage, call `get` with
its `source` and a line range around `line_start`..`line_end` (and `page` for PDFs)."""

SEARCH_DOC = """\
Find the passages of the user's documents that best answer a question, best first.

Arguments: `question` in plain words (a full question works best); `k` how many passages (1-100,
default 5); `mode` "hybrid" (meaning and words, the default), "dense" (meaning only) or "bm25"
(exact words only: names, codes, numbers); `history` the earlier questions of this conversation,
oldest first, when the question refers back to them ("and in winter?"); `history_answers` the
passage text you showed as the answer to each of them (as many as `history`, null where none):
"why?" then reads what that answer said.

Returns {question, mode, k, index, version, history, verdict, found, confidence, follow_up, hits}. Read `verdict` first:
"answer" (the documents answer the question; `found` is true only then), "weak" (the best passage is
related but may not answer it: say so, and quote it as a possible lead, not as the answer) or
"not_found" (not in the user's documents: tell the user their documents do not seem to answer it, and
do not answer from these passages). `confidence` (0-1) is the verdict's: the estimated probability
that the best passage answers the question. Hits come back in every case (the nearest passages), best
first. Each hit has `text` (the passage, verbatim), `citation` (file:lines, quote it), `source`,
`line_start`, `line_end`, `page`, `section` (heading path), its own `confidence`, `score` (comparable
only within this result), and `answer`: the sentence that best answers, with its own citation. An
empty `hits` list means the index has no passage to offer at all."""

GET_DOC = """\
Read lines of one document, to check a citation or read around it.

Arguments: `source` the file as a hit or citation names it (relative path, e.g. "notes/ships.md");
`start` first line (1-based, default 1); `end` last line, inclusive (default start+49, at most 2000
lines per call); `page` the page for PDFs (lines count within the page). To read around a hit, ask
for e.g. start=line_start-10, end=line_end+10.

Returns {source, start, end, total_lines, page, pages, text, lines: [{line, text}]}. Only files
inside the documents folder can be read."""

STATUS_DOC = """\
What is indexed: number of files and passages, index version and build time, the embedding model,
files that were skipped (and why), files added/modified/removed since the last update, and the
progress of an update in progress. Call it when search results seem out of date."""

REINDEX_DOC = """\
Start an incremental update of the index from the documents folder (only changed files are read).
Returns at once with {started, queued}; call `status` to follow it (update.state becomes "idle"
again when done). Searches keep answering from the previous version meanwhile."""


def build_mcp(service, *, write: bool = False, documents=None):
    """The ``MCPServer`` with rag's tools over ``service``; ``documents``: the
    :class:`~rag.service.document_reads.DocumentReads` that bound `get` (one of its own when None;
    give the HTTP server's when both serve, so that they share one bound)."""
    documents = DocumentReads() if documents is None else documents
    server = MCPServer("rag", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING")

    async def _call(fn, *args):
        try:
            return await run_in_threadpool(fn, *args)
        except RagError as exc:
            raise ToolError(str(exc)) from None

    @server.tool(description=SEARCH_DOC)
    async def search(question: str, k: int = 5, mode: Literal["hybrid", "dense", "bm25"] = "hybrid",
                     history: list[str] | None = None,
                     history_answers: list[str | None] | None = None) -> dict[str, Any]:
        try:
            r = checked_request(question, k, mode, history, history_answers)  # the limits HTTP and Ray share
        except RagError as exc:
            raise ToolError(str(exc)) from None
        return await _call(service.search, r.question, r.k, r.mode, list(r.history),
                           None if r.history_answers is None else list(r.history_answers))

    @server.tool(description=GET_DOC)
    async def get(source: str, start: int = 1, end: int | None = None, page: int | None = None) -> dict[str, Any]:
        try:  # at most a few reads at once: busy is one line, as every tool error
            d = await documents.read_lines(service.seeds_root, source, start, end, page)
        except RagError as exc:
            raise ToolError(str(exc)) from None
        return d.to_dict()

    @server.tool(description=STATUS_DOC)
    async def status() -> dict[str, Any]:
        return await _call(service.status)

    if write:
        @server.tool(description=REINDEX_DOC)
        async def reindex() -> dict[str, Any]:
            started = service.start_update()
            return {"started": started, "queued": not started}

    return server
