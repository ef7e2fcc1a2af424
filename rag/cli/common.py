"""What every command of ``rag`` shares: the argument parser, the usage error, the common options
(``--seeds``, ``--index``), and the one line shown for an operating-system error."""

from __future__ import annotations

import argparse
import difflib
import errno
import re

from rag.index.locations import DEFAULT_INDEX, DEFAULT_SEEDS
from rag.terminal_text import terminal_safe


class UsageError(Exception):
    """A command line that cannot be parsed; printed as one line, exit status 2."""


# A word is read as an option when it looks like one: one or two dashes, then a letter, then
# letters, digits, "-" or "_", optionally "=value". Any other word ("-5", "-", "--?", "-ish suffix")
# is an ordinary word, wherever it stands.
_OPTION_LIKE = re.compile(r"--?[A-Za-z][A-Za-z0-9_-]*(=.*)?", re.ASCII | re.DOTALL)


def looks_like_option(word: str) -> bool:
    """True when ``word`` is read as an option by a parser with free words (``rag ask``)."""
    return _OPTION_LIKE.fullmatch(word) is not None


class Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (shown safely): ``rag ask: error... (see `rag ask --help`)``,
    raised as :class:`UsageError` (exit 2) instead of exiting.

    ``words=DEST`` (``rag ask``'s question) lets the words of the positional DEST stand anywhere
    among the options. A word is an option only when it :func:`looks like one <looks_like_option>`,
    and then it must be one of this parser's options (a usage error naming the closest one
    otherwise), with its value when it takes one; "--" ends the options, so that such words can be
    searched for. argparse gives DEST the first run of words and returns the later runs as extras:
    :meth:`parse_known_args` adds them back to DEST. The two argparse hooks below are private
    methods (unchanged in form since Python 2.7; tests/test_cli_args.py runs them).
    """

    def __init__(self, *args, words: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.words = words

    def _print_message(self, message: str, file=None) -> None:
        super()._print_message(terminal_safe(message), file)  # words it quotes back, shown safely

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        namespace, extras = super().parse_known_args(args, namespace)
        if self.words is None:
            return namespace, extras
        if "--" in extras:  # the "--" that ended the options (any later one is a word)
            extras.remove("--")
        setattr(namespace, self.words, [*getattr(namespace, self.words), *extras])
        return namespace, []

    # argparse's hook that tells an option from a word: with free words, only option-like words are
    # options, and each must be known.
    def _parse_optional(self, arg_string: str):
        if self.words is None:
            return super()._parse_optional(arg_string)
        if not looks_like_option(arg_string):
            return None
        name = arg_string.partition("=")[0]
        short = self._option_string_actions.get(name[:2])  # -k3: a short option and its value
        if name not in self._option_string_actions and (short is None or short.nargs == 0):
            guess = difflib.get_close_matches(name, list(self._option_string_actions), n=1, cutoff=0.5)
            hint = f" (did you mean {guess[0]}?)" if guess else ""
            self.error(f"unknown option {name}{hint}; to search for it, put it after --: {self.prog} -- {name}")
        return super()._parse_optional(arg_string)

    # argparse's hook that counts an option's values: with free words, an option that lacks its
    # value says how to search for the option's name instead.
    def _match_argument(self, action: argparse.Action, arg_strings_pattern: str) -> int:
        if self.words is not None and action.option_strings and action.nargs is None \
                and not arg_strings_pattern.startswith("A"):
            name, what = action.option_strings[0], action.metavar or action.dest.upper()
            self.error(f"{name} needs a value ({what}); to search for the word {name}, "
                       f"put it after --: {self.prog} -- {name}")
        return super()._match_argument(action, arg_strings_pattern)


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {v}")
    return v


def add_index_option(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--index", default=None, metavar="DIR",
                    help=f"index folder (default: {DEFAULT_INDEX} for ./{DEFAULT_SEEDS}, else the folder's own "
                         "index under the user's data directory: $RAG_DATA_DIR, $XDG_DATA_HOME/rag or "
                         "~/.local/share/rag)")


def add_folder_options(sp: argparse.ArgumentParser) -> None:
    """``--seeds`` (default ``seeds``) and ``--index``: the options of every command but ask and eval."""
    sp.add_argument("--seeds", default=DEFAULT_SEEDS, metavar="DIR", help=f"documents folder (default {DEFAULT_SEEDS})")
    add_index_option(sp)


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
