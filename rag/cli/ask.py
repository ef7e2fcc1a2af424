"""``rag ask``: the passages that best answer a question, the verdict first."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import threading
from pathlib import Path

from rag.cli.common import UsageError, add_index_option, positive_int
from rag.cli.index import build, print_build
from rag.errors import IndexMissingError, RagError, SeedsError
from rag.index.locations import DEFAULT_SEEDS
from rag.terminal_text import json_dumps, terminal_line, terminal_safe

NAME = "ask"

HELP = """\
Words of the question may start with "-" ("-5 degrees in Sochi?"). A word that looks like an
option (a dash or two, then a letter: --jsn, -x, --mode=dense) must be one of the options below,
wherever it stands; an unknown one, or an option that needs a value and has none (rag ask --seeds),
is a usage error (exit 2). To search for such words, put them after "--": rag ask -- --seeds.

--seeds, when given, must be the folder the index was built from (an error otherwise; without
--seeds the index answers from the folder it was built from). When the documents there changed
since the build, a warning says so (run `rag index`)."""

NOT_FOUND = "your documents do not seem to answer this question"


def add_parser(commands) -> None:
    sp = commands.add_parser(NAME, help="show the passages that best answer a question", epilog=HELP,
                             formatter_class=argparse.RawDescriptionHelpFormatter, words="question", allow_abbrev=False)
    sp.add_argument("question", nargs="+", help="the question (quote it, or give several words)")
    sp.add_argument("-k", type=positive_int, default=5, metavar="N", help="how many passages (default 5)")
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
    add_index_option(sp)


def _check_history(args: argparse.Namespace) -> None:
    """What argparse cannot check alone: as many --history-answer as --history, when given."""
    if args.history_answer is not None and len(args.history_answer) != len(args.history or []):
        raise UsageError(f"rag ask: give --history-answer as many times as --history ({len(args.history or [])}), "
                         "'' where none was shown")


def run(args: argparse.Namespace) -> int:
    _check_history(args)
    # The search side loads here, not at start-up (and the encoder's warm-up starts first): 3 ms
    # that `rag --help` and the other commands do not pay.
    from rag.search.limits import clean_text  # bytes that are not UTF-8 reach argv as lone surrogates
    from rag.search.warmup import start_query_encoder

    question = clean_text(" ".join(args.question))
    history = [clean_text(h) for h in args.history or []]
    shown = None if args.history_answer is None else [clean_text(a) if a.strip() else None for a in args.history_answer]
    explicit = args.seeds is not None
    seeds = args.seeds if explicit else DEFAULT_SEEDS
    no_seeds = explicit and not Path(seeds).is_dir()
    warm = stamps = None
    if question.strip() and Path(seeds).is_dir():
        # The staleness probe stats every seed file (0.1 s at 20,000 files): on another thread from
        # the start, while the index opens and the question is embedded.
        stamps = _Stamps(Path(seeds))
    if question.strip() and not no_seeds:
        warm = start_query_encoder(args.index)  # on the other core while this thread imports and opens the index
        warm.head_start()
    from rag.search.retriever import clean_question  # heavy (numpy, faiss): loads while the encoder warms up

    clean_question(question)  # an empty question fails before any loading
    if no_seeds:
        what = "is not a folder" if Path(seeds).exists() else "not found"
        raise SeedsError(f"no seeds folder {seeds} ({what}): give --seeds the folder the index was built from, or leave it out")
    r = _open_or_build(seeds, args.index)
    if explicit:
        _check_seeds(r, seeds, args.index)
    if warm is not None:
        warm.finish()
    result = r.ask(question, k=args.k, mode=args.mode, history=history, history_answers=shown)
    if stamps is not None:
        _warn_if_stale(r, seeds, stamps)
    if args.json:
        sys.stdout.write(json_dumps(result.to_dict()) + "\n")
        return 0
    _print_hits(result.hits)
    return 0


def _print_hits(hits) -> None:
    if not hits:
        print("no passage matches these words; try other words or --mode dense")
        return
    from rag.search.verdict import verdict, verdict_line  # loads typing: kept off `rag --help`'s path

    said = verdict(hits)
    # What a person reads first: the verdict and its one confidence, in the words every interface uses.
    print(verdict_line(hits) + {"answer": "", "weak": ": the best passages may not answer it",
                                "not_found": ": the nearest passages follow"}[said])
    if said == "not_found":
        print(NOT_FOUND + "; the nearest passages follow", file=sys.stderr)
    print()
    width = min(100, max(40, _term_width() - 6))
    for h in hits:
        print("\n".join(hit_lines(h, width)))
        print()


def hit_lines(h, width: int = 94) -> list[str]:
    """One hit as text: its rank and citation, the page and the heading path where the document has
    them, then the passage, its answer sentence marked ``>`` where it stands in it, every sentence
    once."""
    head = f"{h.rank}. {terminal_line(h.citation)}"
    if h.page is not None:
        head += f"  (page {h.page})"
    if h.section:
        head += f"  § {terminal_line(h.section)}"
    out = [head]
    passage = " ".join(terminal_safe(h.text).split())
    answer = " ".join(terminal_safe(h.answer.text).split()) if h.answer is not None else ""
    at = passage.find(answer) if answer else -1
    if answer and at < 0:  # not found inside (it should be): shown above the passage
        out.append(textwrap.fill(answer, width, initial_indent="   > ", subsequent_indent="     "))
    parts = [(passage[:at].strip(), "   "), (answer, "   > "), (passage[at + len(answer):].strip(), "   ")] \
        if at >= 0 else [(passage, "   ")]
    for text, indent in parts:
        if text:
            out.append(textwrap.fill(text, width, initial_indent=indent, subsequent_indent="   " if indent == "   " else "     "))
    return out


def _term_width() -> int:
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):
        return 100


def _open_or_build(seeds: str, index: str):
    from rag.search.retriever import Retriever  # (heavy: loaded when a question is asked)

    try:
        return Retriever.open(index)
    except IndexMissingError:
        if not Path(seeds).is_dir():
            raise IndexMissingError(
                f"no index at {index} and no seeds folder {seeds}: put .txt or .md files in {seeds}/ and run `rag index`"
            ) from None
        from rag.index.store import make_index_dir  # only when an index must be built first

        make_index_dir(Path(index))  # a place that cannot hold an index fails before the notice
        print(terminal_line(f"no index at {index} yet: building it from {seeds}/ first"), file=sys.stderr)
        # The answer does not wait for the query-encoder export: it runs detached, at low priority.
        print_build(build(seeds, index, export="background"))
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


class _Stamps(threading.Thread):
    """:func:`rag.documents.freshness.seed_stamps` of a folder, on its own thread."""

    def __init__(self, seeds: Path) -> None:
        super().__init__(name="rag-staleness", daemon=True)
        self.seeds = seeds
        self.result = None
        self.start()

    def run(self) -> None:
        from rag.documents.freshness import seed_stamps  # only for `rag ask`'s staleness probe

        self.result = seed_stamps(self.seeds)


def _warn_if_stale(retriever, seeds: str, stamps: _Stamps) -> None:
    """Warn when the seeds changed since the build. Cheap when nothing changed: the probe's stamps
    (sizes and mtimes, no file read) match the manifest's; only when they do not does the exact
    check (which may hash) run. Not for an index of another folder (the probe is left to end)."""
    from rag.documents.freshness import stamps_differ  # only for `rag ask`, after the index opened

    root = Path(seeds)
    if not root.is_dir() or root.resolve() != Path(retriever.manifest.get("seeds_root", "")):
        return
    stamps.join()
    if not stamps_differ(stamps.result, retriever.manifest):
        return
    from rag.documents.changes import seeds_changes  # only when the probe saw a change

    try:
        ch = seeds_changes(root, retriever.manifest, retriever.version_dir.parent)
    except (RagError, OSError):
        return
    if ch:
        print(terminal_line(f"warning: seeds changed since the index was built ({ch.summary()}); run `rag index`"), file=sys.stderr)
