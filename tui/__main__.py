"""``python -m tui [--index DIR] [--seeds DIR]``: open the terminal UI."""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tui", description="Ask questions about a folder of documents.")
    p.add_argument("--index", default=os.path.join("indexes", "default"), metavar="DIR", help="index folder")
    p.add_argument("--seeds", default="seeds", metavar="DIR", help="documents folder")
    args = p.parse_args(argv)
    from .app import run  # textual loads after the arguments: `--help` stays fast

    return run(index=args.index, seeds=args.seeds)


if __name__ == "__main__":
    raise SystemExit(main())
