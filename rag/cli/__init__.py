"""The ``rag`` command: index, serve, mcp, ask, chat, status, eval, one module each.

Each command module has a ``NAME``, ``add_parser(commands)`` (its argparse subparser) and
``run(args)``; they import what is heavy (the model, the index, the servers, the UI) inside
``run``, so that ``rag --help`` and the start of ``rag ask`` stay fast.

Exit status: 0 ok, 1 error (one clear line on stderr), 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import nullcontext

from rag import __version__
from rag.cli import ask, chat, evaluate, index, mcp, serve, status
from rag.cli.ask import NOT_FOUND
from rag.cli.chat import UI_GROUP
from rag.cli.common import Parser, UsageError, os_error_line
from rag.errors import RagError
from rag.index.locations import DEFAULT_SEEDS, default_index_for
from rag.terminal_text import terminal_line

__all__ = ["NOT_FOUND", "UI_GROUP", "UsageError", "main", "parse", "parser"]

_MODULES = (index, serve, mcp, ask, chat, status, evaluate)  # in the order `rag --help` lists them
_COMMANDS = {m.NAME: m.run for m in _MODULES}


def parser() -> argparse.ArgumentParser:
    """The parser of ``rag``: one subparser per command."""
    # allow_abbrev=False: the words after a command are that command's, never a prefix of --version.
    p = Parser(prog="rag", description="Ask questions about a folder of documents, offline.", allow_abbrev=False)
    p.add_argument("--version", action="version", version=f"rag {__version__}", help="print the version and exit")
    commands = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _MODULES:
        module.add_parser(commands)
    return p


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """``argv`` (without the program name) read into the command's arguments; :class:`UsageError`
    when it cannot be, ``SystemExit`` for --help and --version."""
    args = parser().parse_args(list(argv))
    if hasattr(args, "seeds") and args.index is None:  # the seeds folder's own index (not for eval)
        args.index = str(default_index_for(args.seeds or DEFAULT_SEEDS))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print(terminal_line(str(exc)), file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    """The command, with every error it may raise as one line on stderr and its exit status."""
    from rag.log import show_warnings  # (loaded when a command runs: `rag --help` stays lean)

    try:
        # The library's warnings (the "rag" logger): one `warning: ...` line each on stderr; the UI
        # (`rag chat`) shows them as notifications instead.
        with show_warnings() if args.command != chat.NAME else nullcontext():
            return _COMMANDS[args.command](args)
    except UsageError as exc:  # what only the command can check (rag serve --host without a token)
        print(terminal_line(str(exc)), file=sys.stderr)
        return 2
    except RagError as exc:
        print(f"rag: {terminal_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rag: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        print(f"rag: {terminal_line(os_error_line(exc))}", file=sys.stderr)
        return 1
