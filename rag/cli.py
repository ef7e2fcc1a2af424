"""The ``rag`` command: index, ask, chat, status, eval.

Exit status: 0 ok, 1 error (one clear line on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path

from .errors import IndexMissingError, RagError
from .terminal_text import json_dumps, terminal_line, terminal_safe

DEFAULT_SEEDS = "seeds"
DEFAULT_INDEX = os.path.join("indexes", "default")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {v}")
    return v


class _Parser(argparse.ArgumentParser):
    """argparse, with the words it quotes back (unknown arguments, bad values) shown safely."""

    def _print_message(self, message: str, file=None) -> None:
        super()._print_message(terminal_safe(message), file)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rag", description="Ask questions about a folder of documents, offline.")
    from . import __version__

    p.add_argument("--version", action="version", version=f"rag {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def index_opt(sp):
        sp.add_argument("--index", default=DEFAULT_INDEX, metavar="DIR", help=f"index folder (default {DEFAULT_INDEX})")

    def seeds_opt(sp):
        sp.add_argument("--seeds", default=DEFAULT_SEEDS, metavar="DIR", help=f"documents folder (default {DEFAULT_SEEDS})")

    sp = sub.add_parser("index", help="build or update the index (only changed passages are embedded)")
    seeds_opt(sp)
    index_opt(sp)
    sp.add_argument("--rebuild", action="store_true", help="ignore the existing index and embed everything")
    sp.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="wait this long for another build to finish")
    sp.add_argument("--json", action="store_true", help="print the build's statistics as JSON")

    sp = sub.add_parser("ask", help="show the passages that best answer a question")
    sp.add_argument("question", nargs="+", help="the question (quote it, or give several words)")
    sp.add_argument("-k", type=_positive_int, default=5, metavar="N", help="how many passages (default 5)")
    sp.add_argument("--mode", choices=("hybrid", "dense", "bm25"), default="hybrid")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    seeds_opt(sp)
    index_opt(sp)

    sp = sub.add_parser("chat", help="open the terminal UI")
    seeds_opt(sp)
    index_opt(sp)

    sp = sub.add_parser("status", help="what is indexed, and what changed since")
    seeds_opt(sp)
    index_opt(sp)
    sp.add_argument("--json", action="store_true")

    sp = sub.add_parser("eval", help="evaluate retrieval on a BEIR-format data set")
    sp.add_argument("data_dir", metavar="DATA_DIR")
    sp.add_argument("--split", default="test")
    sp.add_argument("--mode", choices=("hybrid", "dense", "bm25", "all"), default="all")
    sp.add_argument("--k", type=_positive_int, default=100, metavar="N", help="depth of the ranking (default 100)")
    sp.add_argument("--index", default=None, metavar="DIR", help="where to keep the evaluation index")
    sp.add_argument("--json", action="store_true")
    return p


# `rag ask` options and whether each takes a value; any other word is part of the question, even
# one that starts with "-" (so `rag ask "-5 degrees?" --json` asks about -5 degrees).
_ASK_OPTIONS = {"-k": True, "--mode": True, "--seeds": True, "--index": True, "--json": False,
                "-h": False, "--help": False}


def _ask_argv(rest: list[str]) -> list[str]:
    opts: list[str] = []
    words: list[str] = []
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "--":
            words += rest[i + 1 :]
            break
        name = a.split("=", 1)[0]
        if name in _ASK_OPTIONS and (a.startswith("--") or a == name):
            opts.append(a)
            if _ASK_OPTIONS[name] and "=" not in a and i + 1 < len(rest):
                opts.append(rest[i + 1])
                i += 1
        elif a.startswith("-k") and a[2:].isdigit():  # -k3
            opts.append(a)
        else:
            words.append(a)
        i += 1
    return ["ask", *opts, "--", *words] if words else ["ask", *opts]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ask"]:
        argv = _ask_argv(argv[1:])
    args = _parser().parse_args(argv)
    from contextlib import nullcontext

    from .log import show_warnings

    try:
        # The library's warnings (the "rag" logger): one `warning: ...` line each on stderr; the UI
        # (`rag chat`) shows them as notifications instead.
        with show_warnings() if args.command != "chat" else nullcontext():
            return _COMMANDS[args.command](args)
    except RagError as exc:
        print(f"rag: {terminal_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rag: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _build(seeds: str, index: str, rebuild: bool = False, wait: float = 0.0):
    from .build import build_index
    from .progress import ProgressBar

    bar = ProgressBar()
    try:
        stats = build_index(seeds, index, rebuild=rebuild, progress=bar, lock_wait=wait)
    finally:
        bar.close()
    return stats


def _print_build(stats) -> None:
    for w in stats.warnings:
        print(f"warning: {terminal_line(w)}", file=sys.stderr)
    for s in stats.skipped:
        print(f"skipped {terminal_line(s.source)}: {terminal_line(s.reason)}", file=sys.stderr)
    line = stats.summary()
    if stats.encoder:
        line += f" [passages embedded with: {stats.encoder}]"
    print(terminal_line(line), file=sys.stderr)


def cmd_index(args) -> int:
    stats = _build(args.seeds, args.index, rebuild=args.rebuild, wait=args.wait)
    if args.json:
        print(
            json.dumps(
                {
                    "files": stats.files,
                    "passages": stats.passages,
                    "embedded": stats.embedded,
                    "reused": stats.reused,
                    "removed": stats.removed,
                    "skipped": [{"source": s.source, "reason": s.reason} for s in stats.skipped],
                    "warnings": stats.warnings,
                    "seconds": round(stats.seconds, 3),
                    "changed": stats.changed,
                    "encoder": stats.encoder,
                    "exported_query_encoder": stats.exported_query_encoder,
                }
            )
        )
        for w in stats.warnings:
            print(f"warning: {terminal_line(w)}", file=sys.stderr)
    else:
        _print_build(stats)
    return 0


def _open_or_build(seeds: str, index: str):
    from .retriever import Retriever

    try:
        return Retriever.open(index)
    except IndexMissingError:
        if not Path(seeds).is_dir():
            raise IndexMissingError(
                f"no index at {index} and no seeds folder {seeds}: put .txt or .md files in {seeds}/ and run `rag index`"
            ) from None
        print(terminal_line(f"no index at {index} yet: building it from {seeds}/ first"), file=sys.stderr)
        _print_build(_build(seeds, index))
        return Retriever.open(index)


def _warn_if_stale(retriever, seeds: str) -> None:
    from .status import seeds_changes

    root = Path(seeds)
    if not root.is_dir() or root.resolve() != Path(retriever.manifest.get("seeds_root", "")):
        return
    try:
        ch = seeds_changes(root, retriever.manifest)
    except RagError:
        return
    if ch:
        print(terminal_line(f"warning: seeds changed since the index was built ({ch.summary()}); run `rag index`"), file=sys.stderr)


def cmd_ask(args) -> int:
    question = " ".join(args.question)
    from .retriever import clean_question

    clean_question(question)  # an empty question fails before any loading
    r = _open_or_build(args.seeds, args.index)
    _warn_if_stale(r, args.seeds)
    hits = r.search(question, k=args.k, mode=args.mode)
    if args.json:
        out = {"question": question, "mode": args.mode, "k": args.k, "index": str(r.version_dir.parent), "hits": [h.to_dict() for h in hits]}
        sys.stdout.write(json_dumps(out) + "\n")
        return 0
    if not hits:
        print("no passage matches these words; try other words or --mode dense")
        return 0
    width = min(100, max(40, _term_width() - 6))
    for h in hits:
        print(f"{h.rank}. {terminal_line(h.citation)}  (score {h.score:.4f})")
        if h.answer is not None:
            print(textwrap.fill(terminal_safe(h.answer.text), width, initial_indent="   > ", subsequent_indent="     "))
        print(textwrap.fill(" ".join(terminal_safe(h.text).split()), width, initial_indent="   ", subsequent_indent="   "))
        print()
    return 0


def _term_width() -> int:
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):
        return 100


def _query_encoder_status(index: Path, manifest: dict) -> str:
    """Which query encoder a search will load, judged without loading it."""
    from .model import ModelInfo
    from .onnx_encoder import export_is_current, onnxruntime_available

    mm = manifest.get("model", {})
    try:
        info = ModelInfo(mm.get("name", ""), mm.get("path", ""), int(mm.get("dim", 0)),
                         int(mm.get("max_tokens", 0)), str(mm.get("weights_sha256", "")))
    except (TypeError, ValueError, AttributeError):
        return "unknown (the manifest does not name the model; run `rag index --rebuild`)"
    if not onnxruntime_available():
        return "numpy (onnxruntime is not installed)"
    if export_is_current(index, info):
        return "onnxruntime"
    return "numpy (the ONNX export is missing or changed; run `rag index`)"


def cmd_status(args) -> int:
    from . import store
    from .status import seeds_changes

    version, m = store.open_current(Path(args.index))
    root = Path(args.seeds)
    ch = seeds_changes(root, m, Path(args.index)) if root.is_dir() else None
    query_encoder = _query_encoder_status(Path(args.index), m)
    if args.json:
        print(
            json.dumps(
                {
                    "index": str(Path(args.index)),
                    "version": version.name,
                    "built_at": m.get("built_at"),
                    "model": m.get("model", {}).get("name"),
                    "files": m.get("counts", {}).get("files"),
                    "passages": m.get("counts", {}).get("passages"),
                    "seeds_root": m.get("seeds_root"),
                    "skipped": {s: v.get("reason") for s, v in m.get("skipped_files", {}).items()},
                    "changes": None if ch is None else {"added": ch.added, "modified": ch.modified, "removed": ch.removed},
                    "query_encoder": query_encoder,
                }
            )
        )
        return 0
    c = m.get("counts", {})
    print(terminal_line(f"index:    {args.index} ({version.name})"))
    print(terminal_line(f"built:    {m.get('built_at')} in {m.get('build_seconds')}s"))
    print(terminal_line(f"model:    {m.get('model', {}).get('name')} ({m.get('model', {}).get('dim')}-d, {m.get('dense', {}).get('kind')})"))
    print(terminal_line(f"contents: {c.get('files')} files, {c.get('passages')} passages from {m.get('seeds_root')}"))
    print(terminal_line(f"queries:  encoded with {query_encoder}"))
    for s, v in m.get("skipped_files", {}).items():
        print(terminal_line(f"skipped:  {s}: {v.get('reason')}"))
    if ch is None:
        print(terminal_line(f"seeds:    {root} not found"))
    elif not ch:
        print("seeds:    no changes since the build")
    else:
        print(terminal_line(f"seeds:    {ch.summary()} since the build; run `rag index`"))
        for label, items in (("added", ch.added), ("modified", ch.modified), ("removed", ch.removed)):
            for s in items:
                print(terminal_line(f"  {label:<8} {s}"))
    return 0


UI_GROUP = "rag.ui"  # entry-point group where a terminal UI registers itself (pyproject.toml)


def cmd_chat(args) -> int:
    return _registered_ui()(index=args.index, seeds=args.seeds)


def _registered_ui():
    """The terminal UI's ``run(index=, seeds=)``, found through the ``chat`` entry point of the
    ``rag.ui`` group (the tui package registers ``tui.app:run``): the library never imports the UI."""
    from importlib.metadata import entry_points

    found = list(entry_points(group=UI_GROUP, name="chat"))
    if not found:
        raise RagError("the terminal UI is not installed: reinstall rag (`pip install -e .`) or run `python -m tui`")
    return found[0].load()


def cmd_eval(args) -> int:
    from .evaluate import run_cli

    return run_cli(args)


_COMMANDS = {"index": cmd_index, "ask": cmd_ask, "chat": cmd_chat, "status": cmd_status, "eval": cmd_eval}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
