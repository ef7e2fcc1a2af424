"""``rag index``: build or update the index (only changed passages are embedded), or follow the
seeds folder with ``--watch``. :func:`build` and :func:`print_build` also serve ``rag ask``, which
builds a missing index first."""

from __future__ import annotations

import argparse
import json
import sys
import threading

from rag.cli.common import add_folder_options
from rag.errors import RagError
from rag.terminal_text import terminal_line

NAME = "index"


def add_parser(commands) -> None:
    sp = commands.add_parser(NAME, help="build or update the index (only changed passages are embedded)")
    add_folder_options(sp)
    sp.add_argument("--rebuild", action="store_true", help="ignore the existing index and embed everything")
    sp.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="wait this long for another build to finish")
    sp.add_argument("--json", action="store_true", help="print the build's statistics as JSON")
    sp.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                    help="read and embed new or changed files on a Ray cluster (default: the running one; "
                         "pip install -e '.[ray]')")
    sp.add_argument("--watch", action="store_true",
                    help="then follow the seeds folder: each burst of saves becomes one update (Ctrl-C stops)")


def run(args: argparse.Namespace) -> int:
    stats = build(args.seeds, args.index, rebuild=args.rebuild, wait=args.wait, ray=args.ray)
    if args.watch:
        print_build(stats)
        return _watch(args, stats)
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
        print_build(stats)
    return 0


def build(seeds: str, index: str, rebuild: bool = False, wait: float = 0.0, export: bool | str = True,
          ray: str | None = None):
    """One build of ``index`` from ``seeds`` with a progress bar on stderr; its ``BuildStats``."""
    from rag.indexing.build import build_index  # the build side loads when a build runs, not at start-up
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


def print_build(stats) -> None:
    """A build's warnings, skipped files and summary line, on stderr."""
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


def _watch(args: argparse.Namespace, first) -> int:
    """`rag index --watch`: the watch and updates of :class:`~rag.service.state.IndexService` (the
    watch of `rag serve --watch`): one update after each burst of saves, one when the watch starts, and
    one when the seeds folder comes back after it vanished; a file that fails to read (mid-write, say)
    is tried once more a moment later, then listed as skipped. Ctrl-C stops."""
    from rag.service.state import IndexService  # the service side loads only for --watch

    skipped = {s.source for s in first.skipped}
    stopped: list[str] = []
    done = threading.Event()

    def update_build(seeds, index, lock_wait: float = 30.0, **_service_kwargs):
        return build(seeds, index, wait=lock_wait)  # in this process, with the progress bar

    def report(stats, error: str | None) -> None:
        nonlocal skipped
        if error is not None:
            print(f"rag: {terminal_line(error)}", file=sys.stderr)
            return
        now_skipped = {s.source for s in stats.skipped}
        if stats.changed or now_skipped != skipped:
            print_build(stats)
        skipped = now_skipped

    def watch_state(state: str) -> None:
        if state == "watching":
            print(terminal_line(f"watching {args.seeds}/ for changes (Ctrl-C stops)"), file=sys.stderr)
        elif state == "waiting for the folder":
            print(terminal_line(f"{args.seeds}/ is gone: waiting for it to come back"), file=sys.stderr)
        elif state.startswith("stopped"):
            stopped.append(state)
            done.set()

    service = IndexService(args.index, args.seeds, build=update_build, build_missing=False, on_update=report,
                           warm_swaps=False)
    service.start_watching(on_state=watch_state)
    try:
        done.wait()
    except KeyboardInterrupt:
        service.stop_watching()
        done.wait(5)
        service.wait_idle(10)  # an update under way ends at a step, not halfway through a print
        return 0
    if stopped and stopped[0] != "stopped":
        raise RagError(f"the watch of {args.seeds}/ {stopped[0]}")
    return 0
