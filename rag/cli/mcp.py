"""``rag mcp``: serve the index to an agent over MCP (stdio). :func:`open_service` and
:func:`mcp_server` also serve ``rag serve``, which offers MCP at /mcp."""

from __future__ import annotations

import argparse
import logging

from rag.cli.common import add_folder_options

NAME = "mcp"


def add_parser(commands) -> None:
    sp = commands.add_parser(NAME, help="serve the index to an agent over MCP (stdio)")
    add_folder_options(sp)
    sp.add_argument("--write", action="store_true", help="offer the reindex tool (the agent may update the index)")


def run(args: argparse.Namespace) -> int:
    # The SDK and the service load only when a server starts.
    import anyio
    from rag.service.mcp_stdio import serve_stdio

    service = open_service(args)
    server = mcp_server(service, write=args.write)
    service.warm()
    anyio.run(serve_stdio, server)  # until stdin closes; every line escaped, every unreadable line answered
    return 0


def open_service(args: argparse.Namespace):
    """The long-lived ``IndexService`` of ``--index`` and ``--seeds``."""
    from rag.service.memory import pin_malloc_thresholds  # the service side loads when a server starts
    from rag.service.state import IndexService

    pin_malloc_thresholds()  # retired index versions give their memory back (rag/service/memory.py)
    return IndexService(args.index, args.seeds)


def mcp_server(service, write: bool, documents=None):
    """The MCP server over ``service`` (the reindex tool only with ``write``); ``documents``: the
    document-read limit it shares with the HTTP API (its own when None)."""
    from rag.service.mcp_server import build_mcp  # the MCP SDK loads when a server starts

    server = build_mcp(service, write=write, documents=documents)
    logging.getLogger("rag").propagate = False  # the SDK configures the root logger; warnings print once
    return server
