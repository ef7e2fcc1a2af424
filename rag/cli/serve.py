"""``rag serve``: the index over HTTP (JSON API, OpenAPI, MCP at /mcp), or POST /search through
Ray Serve replicas over a sharded index with ``--ray``."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import time

from rag.cli.common import UsageError, add_folder_options, positive_int
from rag.cli.mcp import mcp_server, open_service
from rag.terminal_text import terminal_line

NAME = "serve"


def add_parser(commands) -> None:
    sp = commands.add_parser(NAME, help="serve the index over HTTP (web page at /, JSON API, OpenAPI, MCP at /mcp)")
    add_folder_options(sp)
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other needs a token)")
    sp.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    sp.add_argument("--token", default=None, help="require `Authorization: Bearer TOKEN` (default: $RAG_TOKEN)")
    sp.add_argument("--cors", action="append", default=[], metavar="ORIGIN",
                    help="let web pages from ORIGIN call the API (repeatable; default: none)")
    sp.add_argument("--watch", action="store_true", help="follow the seeds folder and update the index after each burst of saves")
    sp.add_argument("--write", action="store_true", help="offer the MCP reindex tool (POST /index is always there)")
    sp.add_argument("--no-mcp", action="store_true", help="do not serve MCP at /mcp")
    sp.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                    help="serve POST /search through Ray Serve replicas over a sharded index on a Ray cluster")
    sp.add_argument("--shards", type=positive_int, default=4, metavar="N", help="with --ray: shard actors (default 4)")
    sp.add_argument("--replicas", type=positive_int, default=2, metavar="N", help="with --ray: Serve replicas (default 2)")


def run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("RAG_TOKEN") or None
    loopback = _is_loopback(args.host)
    if not loopback and not token:
        raise UsageError(f"rag serve: --host {args.host} is reachable from other machines: give a token "
                         "(--token TOKEN or RAG_TOKEN=...), which clients send as `Authorization: Bearer TOKEN`")
    if not 0 < args.port < 65536:
        raise UsageError(f"rag serve: --port must be between 1 and 65535, not {args.port}")
    if args.ray is not None:
        return _serve_ray(args, token)
    # The HTTP stack (uvicorn, fastapi) loads when a server starts, not at start-up.
    import uvicorn
    from rag.service.document_reads import DocumentReads
    from rag.service.http import create_app

    service = open_service(args)
    service.warm()
    documents = DocumentReads()  # one limit on document reads for the API and /mcp together
    mcp = None if args.no_mcp else mcp_server(service, write=args.write, documents=documents)
    hosts = ["127.0.0.1", "localhost", "[::1]", "::1"] if loopback else None
    app = create_app(service, token=token, allowed_hosts=hosts, cors=args.cors or None, mcp=mcp,
                     bind_host=args.host, documents=documents)
    if args.watch:
        service.start_watching()
    info = service.retriever.info
    where = f"[{args.host}]" if ":" in args.host else args.host
    print(terminal_line(f"rag serve: http://{where}:{args.port} ({info.passages} passages of {info.files} files; "
                        f"web page at /, API at /openapi.json{', MCP at /mcp' if mcp else ''}"
                        f"{'; watching ' + args.seeds if args.watch else ''}); Ctrl-C stops"), file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, server_header=False)
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _serve_ray(args: argparse.Namespace, token: str | None) -> int:
    """`rag serve --ray`: POST /search through Ray Serve replicas over shard actors; Ctrl-C stops."""
    from rag.distributed.cluster import connect  # Ray loads only for --ray
    from rag.distributed.serve import deployment

    connect(None if args.ray == "auto" else args.ray)
    from ray import serve  # heavy: Ray, only for --ray

    serve.start(http_options={"host": args.host, "port": args.port})
    hosts = ["127.0.0.1", "localhost", "[::1]", "::1", args.host.lower()] if _is_loopback(args.host) else None
    serve.run(deployment(str(args.index), args.shards, args.replicas, token=token, hosts=hosts), route_prefix="/search")
    print(terminal_line(f"rag serve --ray: POST http://{args.host}:{args.port}/search ({args.replicas} replicas over "
                        f"{args.shards} shards); Ctrl-C stops"), file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        serve.shutdown()
    return 0
