"""The ``rag`` command: index, ask, chat, status, eval.

Exit status: 0 ok, 1 error (one clear line on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import json
import os
import re
import sys
import textwrap
from pathlib import Path

from rag.errors import IndexMissingError, RagError, SeedsError
from rag.index.locations import DEFAULT_INDEX, DEFAULT_SEEDS, default_index_for
from rag.terminal_text import json_dumps, terminal_line, terminal_safe


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {v}")
    return v


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (shown safely): ``rag ask: error: ... (see `rag ask --help`)``, exit 2."""

    def _print_message(self, message: str, file=None) -> None:
        super()._print_message(terminal_safe(message), file)  # words it quotes back, shown safely

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")


class UsageError(Exception):
    """A command line that cannot be parsed; printed as one line, exit status 2."""


ASK_HELP = """\
Words of the question may start with "-" ("-5 degrees in Sochi?"). A word that looks like an
option (a dash or two, then a letter: --jsn, -x, --mode=dense) must be one of the options below,
wherever it stands; an unknown one, or an option that needs a value and has none (rag ask --seeds),
is a usage error (exit 2). To search for such words, put them after "--": rag ask -- --seeds.

--seeds, when given, must be the folder the index was built from (an error otherwise; without
--seeds the index answers from the folder it was built from). When the documents there changed
since the build, a warning says so (run `rag index`)."""


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rag", description="Ask questions about a folder of documents, offline.")
    from rag import __version__

    p.add_argument("--version", action="version", version=f"rag {__version__}", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def index_opt(sp):
        sp.add_argument("--index", default=None, metavar="DIR",
                        help=f"index folder (default: {DEFAULT_INDEX} for ./{DEFAULT_SEEDS}, else the folder's own "
                             "index under the user's data directory: $RAG_DATA_DIR, $XDG_DATA_HOME/rag or "
                             "~/.local/share/rag)")

    def seeds_opt(sp):
        sp.add_argument("--seeds", default=DEFAULT_SEEDS, metavar="DIR", help=f"documents folder (default {DEFAULT_SEEDS})")

    sp = sub.add_parser("index", help="build or update the index (only changed passages are embedded)")
    seeds_opt(sp)
    index_opt(sp)
    sp.add_argument("--rebuild", action="store_true", help="ignore the existing index and embed everything")
    sp.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="wait this long for another build to finish")
    sp.add_argument("--json", action="store_true", help="print the build's statistics as JSON")
    sp.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                    help="read and embed new or changed files on a Ray cluster (default: the running one; "
                         "pip install -e '.[ray]')")
    sp.add_argument("--watch", action="store_true",
                    help="then follow the seeds folder: each burst of saves becomes one update (Ctrl-C stops)")

    sp = sub.add_parser("serve", help="serve the index over HTTP (JSON API, OpenAPI, MCP at /mcp)")
    seeds_opt(sp)
    index_opt(sp)
    _service_opts(sp)

    sp = sub.add_parser("mcp", help="serve the index to an agent over MCP (stdio)")
    seeds_opt(sp)
    index_opt(sp)
    sp.add_argument("--write", action="store_true", help="offer the reindex tool (the agent may update the index)")

    sp = sub.add_parser("ask", help="show the passages that best answer a question", epilog=ASK_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("question", nargs="+", help="the question (quote it, or give several words)")
    sp.add_argument("-k", type=_positive_int, default=5, metavar="N", help="how many passages (default 5)")
    sp.add_argument("--mode", choices=("hybrid", "dense", "bm25"), default="hybrid",
                    help="hybrid: meaning and words, fused (default); dense: meaning only; bm25: words only")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.add_argument("--history", action="append", default=None, metavar="Q",
                    help="an earlier question of the conversation (repeat, oldest first); a follow-up such as "
                         "'who leads them?' is searched with their context")
    sp.add_argument("--history-answer", action="append", default=None, metavar="TEXT", dest="history_answer",
                    help="the passage shown as the answer to the --history question in the same place (repeat in the "
                         "same order, as many as --history; '' where none): 'why?' then reads what it said")
    sp.add_argument("--seeds", default=None, metavar="DIR",
                    help="the documents folder the index was built from (checked; default: the index's own)")
    index_opt(sp)

    sp = sub.add_parser("chat", help="open the terminal UI")
    seeds_opt(sp)
    index_opt(sp)
    sp.add_argument("--no-watch", action="store_true", help="do not update the index when files in the seeds folder change")

    sp = sub.add_parser("status", help="what is indexed, and what changed since")
    seeds_opt(sp)
    index_opt(sp)
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.add_argument("--verify", action="store_true",
                    help="also check every index file against its checksum (reads the whole index; exit 1 when damaged)")

    sp = sub.add_parser("eval", help="evaluate retrieval on a BEIR-format data set")
    sp.add_argument("data_dir", metavar="DATA_DIR", nargs="?",
                    help="a BEIR data set folder (corpus.jsonl, queries-SPLIT.jsonl, qrels-SPLIT.tsv), or a set of "
                         "natural questions (questions.jsonl, conversation.jsonl, docs/ or docs.txt: bench/devsets/NAME)")
    sp.add_argument("--split", default="test", help="which split's questions and judgements to use (default test)")
    sp.add_argument("--mode", choices=("hybrid", "dense", "bm25", "all"), default="all",
                    help="which ranking to evaluate (default all three)")
    sp.add_argument("--k", type=_positive_int, default=100, metavar="N", help="depth of the ranking (default 100)")
    sp.add_argument("--index", default=None, metavar="DIR", help="where to keep the evaluation index")
    sp.add_argument("--json", action="store_true", help="print the metrics as JSON")
    sp.add_argument("--abstention", action="store_true",
                    help="instead: how well confidence tells answerable claims from those whose documents are "
                         "removed (AUROC, accuracy at 0.5, calibration error)")
    sp.add_argument("--ood", default=None, metavar="FILE",
                    help="with --abstention: JSON-lines questions on other topics (rewrite/text/question) as a second check")
    sp.add_argument("--distractors", default=None, metavar="DIR",
                    help="for a conversational set (conversations.jsonl): a BEIR folder whose passages join the pool")
    sp.add_argument("--distractor-limit", type=_positive_int, default=None, metavar="N",
                    help="use only the first N distractor passages")
    sp.add_argument("--formats", action="store_true",
                    help="instead: top-1/top-5 location accuracy and the citation invariant per format (PDF, HTML, "
                         "DOCX, Markdown, text) on a generated corpus (no DATA_DIR)")
    return p


def _service_opts(sp) -> None:
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
    sp.add_argument("--shards", type=_positive_int, default=4, metavar="N", help="with --ray: shard actors (default 4)")
    sp.add_argument("--replicas", type=_positive_int, default=2, metavar="N", help="with --ray: Serve replicas (default 2)")


# `rag ask` takes its options anywhere among the question's words, so it is parsed here first.
# The rule (also in `rag ask --help`): a word that looks like an option -- one or two dashes, then
# a letter, then letters, digits, "-" or "_", optionally "=value" -- must be a known option; any
# other word is part of the question ("-5", "-", "--?", "-ish suffix"); "--" ends the options.
_ASK_VALUES = {"-k": "N", "--mode": "MODE", "--seeds": "DIR", "--index": "DIR", "--history": "Q", "--history-answer": "TEXT"}
_ASK_FLAGS = ("--json", "-h", "--help")
_OPTION_LIKE = re.compile(r"--?[A-Za-z][A-Za-z0-9_-]*(=.*)?", re.ASCII | re.DOTALL)


def looks_like_option(word: str) -> bool:
    """True when ``word`` is read as an option by `rag ask` (see ``ASK_HELP``)."""
    return _OPTION_LIKE.fullmatch(word) is not None


def _ask_argv(rest: list[str]) -> list[str]:
    """``rest`` (what follows ``ask``) rewritten so argparse reads options as options and every
    other word as the question; raises :class:`UsageError` for an unknown or incomplete option."""
    known = (*_ASK_VALUES, *_ASK_FLAGS)
    opts: list[str] = []
    words: list[str] = []
    i = 0
    while i < len(rest):
        a = rest[i]
        i += 1
        if a == "--":
            words += rest[i:]
            break
        if not looks_like_option(a):
            words.append(a)
            continue
        name, eq, value = a.partition("=")
        if name in _ASK_FLAGS and not eq:
            opts.append(a)
        elif name in _ASK_VALUES and eq:  # --mode=bm25, -k=3
            opts.append(a)
        elif name in _ASK_VALUES:
            if i >= len(rest) or rest[i] in known or rest[i] == "--":
                raise UsageError(
                    f"rag ask: {name} needs a value ({_ASK_VALUES[name]}); to search for the word {name}, "
                    f"put it after --: rag ask -- {name}"
                )
            opts.append(f"{name}={rest[i]}")  # "=" so that a value starting with "-" stays a value
            i += 1
        elif name.startswith("-k") and name[2:].isdigit() and not eq:  # -k3
            opts.append(a)
        else:
            guess = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
            hint = f"did you mean {guess[0]}? " if guess else ""
            raise UsageError(
                f"rag ask: unknown option {name}; {hint}(to search for it, put it after --: rag ask -- {name})"
            )
    return ["ask", *opts, "--", *words] if words else ["ask", *opts]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["ask"]:
            argv = _ask_argv(argv[1:])
        args = _parser().parse_args(argv)
        if hasattr(args, "seeds") and args.index is None:  # the seeds folder's own index (not for eval)
            args.index = str(default_index_for(args.seeds or DEFAULT_SEEDS))
        if args.command == "ask" and args.history_answer is not None and len(args.history_answer) != len(args.history or []):
            raise UsageError(f"rag ask: give --history-answer as many times as --history ({len(args.history or [])}), "
                             "'' where none was shown")
    except UsageError as exc:
        print(terminal_line(str(exc)), file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    from contextlib import nullcontext

    from rag.log import show_warnings

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
    except OSError as exc:
        print(f"rag: {terminal_line(os_error_line(exc))}", file=sys.stderr)
        return 1


def os_error_line(exc: OSError) -> str:
    """One line for an operating-system error the library did not expect: what failed, and what to do."""
    where = f" ({exc.filename})" if exc.filename else ""
    what = exc.strerror or str(exc) or type(exc).__name__
    advice = {
        errno.ENOSPC: "free some disk space and try again",
        errno.EDQUOT: "free some disk space and try again",
        errno.EACCES: "check the permissions of that path, or choose another with --index/--seeds",
        errno.EPERM: "check the permissions of that path, or choose another with --index/--seeds",
        errno.EROFS: "choose a writable place with --index",
        errno.ENOTDIR: "a path given as a folder is a file; check --index and --seeds",
        errno.EISDIR: "a path given as a file is a folder; check the paths you gave",
        errno.ENOENT: "check the paths you gave",
    }.get(exc.errno or 0, "check the paths you gave and try again")
    return " ".join(f"{what}{where}: {advice}".split())


def _build(seeds: str, index: str, rebuild: bool = False, wait: float = 0.0, export: bool | str = True,
           ray: str | None = None):
    from rag.indexing.build import build_index
    from rag.progress import ProgressBar

    embedder = reader = None
    if ray is not None:  # rag index --ray [ADDRESS]: reading and embedding of changed files on the cluster
        from rag.distributed.embedding import ray_embedder
        from rag.distributed.reading import ray_reader

        embedder, reader = ray_embedder(ray, stay_connected=True), ray_reader(ray)
    bar = ProgressBar()
    try:
        stats = build_index(seeds, index, rebuild=rebuild, progress=bar, lock_wait=wait, export_query_encoder=export,
                            embedder=embedder, reader=reader)
    finally:
        bar.close()
        if ray is not None:  # one connection for both steps (made by the first that needed it)
            from rag.distributed.cluster import disconnect

            disconnect()
    return stats


def _print_build(stats) -> None:
    for w in stats.warnings:
        print(f"warning: {terminal_line(w)}", file=sys.stderr)
    for s in stats.skipped:
        print(f"skipped {terminal_line(s.source)}: {terminal_line(s.reason)}", file=sys.stderr)
    line = stats.summary()
    if stats.encoder:
        line += f" [passages embedded with: {stats.encoder}]"
    if stats.reader:
        line += f" [files read on: {stats.reader}]"
    print(terminal_line(line), file=sys.stderr)


def cmd_index(args) -> int:
    stats = _build(args.seeds, args.index, rebuild=args.rebuild, wait=args.wait, ray=args.ray)
    if args.watch:
        _print_build(stats)
        return _index_watch(args, stats)
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
    from rag.search.retriever import Retriever

    try:
        return Retriever.open(index)
    except IndexMissingError:
        if not Path(seeds).is_dir():
            raise IndexMissingError(
                f"no index at {index} and no seeds folder {seeds}: put .txt or .md files in {seeds}/ and run `rag index`"
            ) from None
        from rag.index.store import make_index_dir

        make_index_dir(Path(index))  # a place that cannot hold an index fails before the notice
        print(terminal_line(f"no index at {index} yet: building it from {seeds}/ first"), file=sys.stderr)
        # The answer does not wait for the query-encoder export: it runs detached, at low priority.
        _print_build(_build(seeds, index, export="background"))
        return Retriever.open(index)


def _check_seeds(retriever, seeds: str, index: str) -> None:
    """An explicit ``--seeds`` must be the folder the index was built from: answering from another
    folder's index while the user named this one would be a silent wrong result."""
    built_from = str(retriever.manifest.get("seeds_root", ""))
    if Path(seeds).resolve() != Path(built_from):
        raise SeedsError(
            f"the index at {index} was built from {built_from or 'an unknown folder'}, not {seeds}: "
            f"leave out --seeds, or index {seeds} into its own folder "
            f"(rag index --seeds {seeds} --index OTHER; rag ask --index OTHER ...)"
        )


def _warn_if_stale(retriever, seeds: str) -> None:
    """Warn when the seeds changed since the build. Cheap when nothing changed: the probe stats the
    files and reads none; only when it sees a difference does the exact check (which may hash) run."""
    from rag.documents.freshness import seeds_may_have_changed

    root = Path(seeds)
    if not root.is_dir() or root.resolve() != Path(retriever.manifest.get("seeds_root", "")):
        return
    if not seeds_may_have_changed(root, retriever.manifest):
        return
    from rag.documents.changes import seeds_changes

    try:
        ch = seeds_changes(root, retriever.manifest, retriever.version_dir.parent)
    except (RagError, OSError):
        return
    if ch:
        print(terminal_line(f"warning: seeds changed since the index was built ({ch.summary()}); run `rag index`"), file=sys.stderr)


NOT_FOUND = "your documents do not seem to answer this question"


def cmd_ask(args) -> int:
    from rag.search.limits import clean_text  # bytes that are not UTF-8 reach argv as lone surrogates

    question = clean_text(" ".join(args.question))
    history = [clean_text(h) for h in args.history or []]
    shown = None if args.history_answer is None else [clean_text(a) if a.strip() else None for a in args.history_answer]
    explicit = args.seeds is not None
    seeds = args.seeds if explicit else DEFAULT_SEEDS
    no_seeds = explicit and not Path(seeds).is_dir()
    warm = None
    if question.strip() and not no_seeds:
        from rag.search.warmup import start_query_encoder

        warm = start_query_encoder(args.index)  # on the other core while this thread imports and opens the index
        warm.head_start()
    from rag.search.retriever import clean_question

    clean_question(question)  # an empty question fails before any loading
    if no_seeds:
        what = "is not a folder" if Path(seeds).exists() else "not found"
        raise SeedsError(f"no seeds folder {seeds} ({what}): give --seeds the folder the index was built from, or leave it out")
    r = _open_or_build(seeds, args.index)
    if explicit:
        _check_seeds(r, seeds, args.index)
    _warn_if_stale(r, seeds)
    if warm is not None:
        warm.finish()
    result = r.ask(question, k=args.k, mode=args.mode, history=history, history_answers=shown)
    if args.json:
        sys.stdout.write(json_dumps(result.to_dict()) + "\n")
        return 0
    hits = result.hits
    if not hits:
        print("no passage matches these words; try other words or --mode dense")
        return 0
    from rag.search.verdict import verdict, verdict_line

    said = verdict(hits)
    # What a person reads first: the verdict and its one confidence, in the words every interface uses.
    print(verdict_line(hits) + {"answer": "", "weak": ": the best passages may not answer it",
                                "not_found": ": the nearest passages follow"}[said])
    if said == "not_found":
        print(NOT_FOUND + "; the nearest passages follow", file=sys.stderr)
    print()
    width = min(100, max(40, _term_width() - 6))
    for h in hits:
        print(f"{h.rank}. {terminal_line(h.citation)}" + (f"  § {terminal_line(h.section)}" if h.section else ""))
        passage = " ".join(terminal_safe(h.text).split())
        if h.answer is not None and " ".join(terminal_safe(h.answer.text).split()) != passage:  # a one-sentence passage once
            print(textwrap.fill(terminal_safe(h.answer.text), width, initial_indent="   > ", subsequent_indent="     "))
        print(textwrap.fill(passage, width, initial_indent="   ", subsequent_indent="   "))
        print()
    return 0


def _term_width() -> int:
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):
        return 100


def _query_encoder_status(index: Path, manifest: dict) -> str:
    """Which query encoder a search will load, judged without loading it."""
    from rag.embedding.model import ModelInfo
    from rag.embedding.onnx_encoder import export_is_current

    mm = manifest.get("model", {})
    try:
        info = ModelInfo(mm.get("name", ""), mm.get("path", ""), int(mm.get("dim", 0)),
                         int(mm.get("max_tokens", 0)), str(mm.get("weights_sha256", "")),
                         str(mm.get("pooling", "mean")))
    except (TypeError, ValueError, AttributeError):
        return "unknown (the manifest does not name the model; run `rag index --rebuild`)"
    if export_is_current(info):
        return "onnxruntime"
    return "sentence-transformers (the ONNX export is missing or changed; run `rag index`)"


def cmd_status(args) -> int:
    from rag.index import store
    from rag.documents.changes import seeds_changes

    from rag.index.local import LocalIndex
    from rag.search.retriever import dense_kind

    version, m = store.open_meta(Path(args.index))
    with LocalIndex.open(Path(args.index)) as backend:
        verified = backend.verify() if args.verify else None  # damage: one line naming the rebuild, exit 1
        kind = dense_kind(backend.segments())
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
                    "verified_files": verified,
                }
            )
        )
        return 0
    c = m.get("counts", {})
    print(terminal_line(f"index:    {args.index} ({version.name})"))
    print(terminal_line(f"built:    {m.get('built_at')} in {m.get('build_seconds')}s"))
    print(terminal_line(f"model:    {m.get('model', {}).get('name')} ({m.get('model', {}).get('dim')}-d, {kind})"))
    print(terminal_line(f"contents: {c.get('files')} files, {c.get('passages')} passages from {m.get('seeds_root')}"))
    print(terminal_line(f"queries:  encoded with {query_encoder}"))
    if verified is not None:
        print(f"verified: all {verified} index files match their checksums")
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


def _index_watch(args, first) -> int:
    """`rag index --watch`: one update after each burst of saves; a file that fails to read (mid-write,
    say) is tried once more a moment later, then listed as skipped."""
    import time

    from rag.service.state import RETRY_DELAY
    from rag.service.watch import watch_seeds

    print(terminal_line(f"watching {args.seeds}/ for changes (Ctrl-C stops)"), file=sys.stderr)
    skipped = {s.source for s in first.skipped}

    def update(_paths: set[str]) -> None:
        nonlocal skipped
        try:
            stats = _build(args.seeds, args.index, wait=30.0)
            changed = stats.changed
            failing = {s.source for s in stats.skipped if not s.reason.startswith("unsupported")} - skipped
            if failing:
                time.sleep(RETRY_DELAY)
                stats = _build(args.seeds, args.index, wait=30.0)
                changed = changed or stats.changed
        except RagError as exc:
            print(f"rag: {terminal_line(exc)}", file=sys.stderr)
            return
        now_skipped = {s.source for s in stats.skipped}
        if changed or now_skipped != skipped:
            _print_build(stats)
        skipped = now_skipped

    watch_seeds(args.seeds, update, index=args.index)
    return 0


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _serve_ray(args, token: str | None) -> int:
    """`rag serve --ray`: POST /search through Ray Serve replicas over shard actors; Ctrl-C stops."""
    import time

    from rag.distributed.cluster import connect
    from rag.distributed.serve import deployment

    connect(None if args.ray == "auto" else args.ray)
    from ray import serve

    serve.start(http_options={"host": args.host, "port": args.port})
    serve.run(deployment(str(args.index), args.shards, args.replicas, token=token), route_prefix="/search")
    print(terminal_line(f"rag serve --ray: POST http://{args.host}:{args.port}/search ({args.replicas} replicas over "
                        f"{args.shards} shards); Ctrl-C stops"), file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        serve.shutdown()
    return 0


def cmd_serve(args) -> int:
    token = args.token or os.environ.get("RAG_TOKEN") or None
    loopback = _is_loopback(args.host)
    if not loopback and not token:
        print(terminal_line(f"rag serve: --host {args.host} is reachable from other machines: give a token "
                            "(--token TOKEN or RAG_TOKEN=...), which clients send as `Authorization: Bearer TOKEN`"),
              file=sys.stderr)
        return 2
    if not 0 < args.port < 65536:
        print(f"rag serve: --port must be between 1 and 65535, not {args.port}", file=sys.stderr)
        return 2
    if getattr(args, "ray", None) is not None:
        return _serve_ray(args, token)
    import logging

    import uvicorn

    from rag.service.http import create_app
    from rag.service.memory import pin_malloc_thresholds
    from rag.service.state import IndexService

    pin_malloc_thresholds()  # retired index versions give their memory back (rag/service/memory.py)
    service = IndexService(args.index, args.seeds)
    service.warm()
    mcp = None
    if not args.no_mcp:
        from rag.service.mcp_server import build_mcp

        mcp = build_mcp(service, write=args.write)
        logging.getLogger("rag").propagate = False  # the SDK configures the root logger; warnings print once
    hosts = ["127.0.0.1", "localhost", "[::1]", "::1"] if loopback else None
    app = create_app(service, token=token, allowed_hosts=hosts, cors=args.cors or None, mcp=mcp,
                     bind_host=args.host)
    if args.watch:
        from rag.service.watch import start_watcher

        start_watcher(args.seeds, lambda _paths: service.start_update(), index=args.index)
    info = service.retriever.info
    where = f"[{args.host}]" if ":" in args.host else args.host
    print(terminal_line(f"rag serve: http://{where}:{args.port} ({info.passages} passages of {info.files} files; "
                        f"API at /openapi.json{', MCP at /mcp' if mcp else ''}{'; watching ' + args.seeds if args.watch else ''}); "
                        "Ctrl-C stops"), file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, server_header=False)
    return 0


def cmd_mcp(args) -> int:
    import logging

    from rag.service.mcp_server import build_mcp
    from rag.service.memory import pin_malloc_thresholds
    from rag.service.state import IndexService

    pin_malloc_thresholds()  # retired index versions give their memory back (rag/service/memory.py)
    service = IndexService(args.index, args.seeds)
    server = build_mcp(service, write=args.write)
    logging.getLogger("rag").propagate = False  # the SDK configures the root logger; warnings print once
    service.warm()
    server.run("stdio")
    return 0


UI_GROUP = "rag.ui"  # entry-point group where a terminal UI registers itself (pyproject.toml)


def cmd_chat(args) -> int:
    from rag.service.memory import pin_malloc_thresholds

    ui = _registered_ui()
    pin_malloc_thresholds()  # a long session swaps index versions too (watch, ctrl+r): see rag/service/memory.py
    return ui(index=args.index, seeds=args.seeds, watch=not args.no_watch)


def _registered_ui():
    """The terminal UI's ``run(index=, seeds=)``, found through the ``chat`` entry point of the
    ``rag.ui`` group (the tui package registers ``tui.app:run``): the library never imports the UI."""
    from importlib.metadata import entry_points

    found = list(entry_points(group=UI_GROUP, name="chat"))
    if not found:
        raise RagError("the terminal UI is not installed: reinstall rag (`pip install -e .`) or run `python -m tui`")
    return found[0].load()


def cmd_eval(args) -> int:
    if getattr(args, "formats", False):
        from rag.evaluation.formats import run_cli as run_formats

        return run_formats(args)
    if args.data_dir is None:
        print("rag eval: the following arguments are required: DATA_DIR (or --formats) (see `rag eval --help`)",
              file=sys.stderr)
        return 2
    if getattr(args, "abstention", False):
        from rag.evaluation.abstention import run_cli as run_abstention

        return run_abstention(args)
    if (Path(args.data_dir) / "questions.jsonl").is_file():  # a development set of natural questions
        from rag.evaluation.natural import run_cli as run_natural

        return run_natural(args)
    if (Path(args.data_dir) / "conversations.jsonl").is_file():  # a conversational set: follow-ups
        from rag.evaluation.followups import run_cli as run_followups

        return run_followups(args)
    from rag.evaluation.evaluate import run_cli

    return run_cli(args)


_COMMANDS = {"index": cmd_index, "ask": cmd_ask, "chat": cmd_chat, "status": cmd_status, "eval": cmd_eval,
             "serve": cmd_serve, "mcp": cmd_mcp}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
