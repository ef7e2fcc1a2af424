"""``rag eval``: retrieval measured on a BEIR-format data set, a set of natural questions or
follow-ups, abstention (``--abstention``), or location accuracy per format (``--formats``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rag.cli.common import UsageError, positive_int

NAME = "eval"


def add_parser(commands) -> None:
    sp = commands.add_parser(NAME, help="evaluate retrieval on a BEIR-format data set")
    sp.add_argument("data_dir", metavar="DATA_DIR", nargs="?",
                    help="a BEIR data set folder (corpus.jsonl, queries-SPLIT.jsonl, qrels-SPLIT.tsv), or a set of "
                         "natural questions (questions.jsonl, conversation.jsonl, docs/ or docs.txt: bench/devsets/NAME)")
    sp.add_argument("--split", default="test", help="which split's questions and judgements to use (default test)")
    sp.add_argument("--mode", choices=("hybrid", "dense", "bm25", "all"), default="all",
                    help="which ranking to evaluate (default all three)")
    sp.add_argument("--k", type=positive_int, default=100, metavar="N", help="depth of the ranking (default 100)")
    sp.add_argument("--index", default=None, metavar="DIR", help="where to keep the evaluation index")
    sp.add_argument("--json", action="store_true", help="print the metrics as JSON")
    sp.add_argument("--abstention", action="store_true",
                    help="instead: how well confidence tells answerable claims from those whose documents are "
                         "removed (AUROC, accuracy at 0.5, calibration error)")
    sp.add_argument("--ood", default=None, metavar="FILE",
                    help="with --abstention: JSON-lines questions on other topics (rewrite/text/question) as a second check")
    sp.add_argument("--distractors", default=None, metavar="DIR",
                    help="for a conversational set (conversations.jsonl): a BEIR folder whose passages join the pool")
    sp.add_argument("--distractor-limit", type=positive_int, default=None, metavar="N",
                    help="use only the first N distractor passages")
    sp.add_argument("--formats", action="store_true",
                    help="instead: top-1/top-5 location accuracy and the citation invariant per format (PDF, HTML, "
                         "DOCX, Markdown, text) on a generated corpus (no DATA_DIR)")


def run(args: argparse.Namespace) -> int:
    # Each evaluation loads its own modules (the index, the model) only when it runs.
    if args.formats:
        from rag.evaluation.formats import run_cli as run_formats  # heavy: each evaluation's index and model

        return run_formats(args)
    if args.data_dir is None:
        raise UsageError("rag eval: the following arguments are required: DATA_DIR (or --formats) "
                         "(see `rag eval --help`)")
    if args.abstention:
        from rag.evaluation.abstention import run_cli as run_abstention  # heavy, as above

        return run_abstention(args)
    if (Path(args.data_dir) / "questions.jsonl").is_file():  # a development set of natural questions
        from rag.evaluation.natural import run_cli as run_natural

        return run_natural(args)
    if (Path(args.data_dir) / "conversations.jsonl").is_file():  # a conversational set: follow-ups
        from rag.evaluation.followups import run_cli as run_followups

        return run_followups(args)
    from rag.evaluation.evaluate import run_cli  # heavy, as above

    return run_cli(args)
