"""Readers that misbehave on purpose, for the parsing budget's tests (run in the budget's worker,
which imports this module by name: the tests put this folder on its PYTHONPATH)."""

from __future__ import annotations

import os
import time

from rag.documents.document import Block, Document
from rag.documents.readers.base import Reader
from rag.documents.readers.budget import Budget

SMALL = Budget(seconds=2.0, memory_bytes=1 << 30)


class _Isolated(Reader):
    isolated = True
    budget = SMALL


class Sleepy(_Isolated):
    """Loops forever, as a parser caught in a cycle of objects would."""

    def parse(self, source: str, data: bytes) -> Document:
        while True:
            time.sleep(3600)


class Crashing(_Isolated):
    """Dies as a C library does on a bad pointer (SIGABRT)."""

    def parse(self, source: str, data: bytes) -> Document:
        os.abort()


class Hungry(_Isolated):
    """Asks for far more memory than the budget allows."""

    def parse(self, source: str, data: bytes) -> Document:
        hoard = bytearray(8 << 30)
        return Document(source, str(len(hoard)), [])


class Failing(_Isolated):
    """Raises an unexpected exception."""

    def parse(self, source: str, data: bytes) -> Document:
        raise ValueError("unexpected token at byte 7")


class Echo(_Isolated):
    """Reads its bytes as one page per line: the round trip through the worker."""

    def parse(self, source: str, data: bytes) -> Document:
        text = data.decode()
        starts, offset = [], 0
        for line in text.split("\n"):
            starts.append(offset)
            offset += len(line) + 1
        return Document(source, text, [Block(0, len(text.split("\n")[0]), "A > B")], tuple(starts), "a warning")
