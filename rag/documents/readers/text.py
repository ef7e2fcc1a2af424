"""Plain text (.txt): every paragraph (a run of non-blank lines) is a block; no sections."""

from __future__ import annotations

from rag.documents.chunking import paragraph_blocks
from rag.documents.document import Block
from rag.documents.readers.base import TextReader


class PlainTextReader(TextReader):
    name = "text"
    extensions = (".txt",)

    def blocks(self, text: str) -> list[Block]:
        return paragraph_blocks(text)
