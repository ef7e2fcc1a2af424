"""Readers, one module per format, and the registry that picks one by file name.

To add a format: write ``readers/<format>.py`` with a :class:`~rag.documents.readers.base.Reader`
subclass (its ``extensions`` and ``parse``), and register it below.
"""

from rag.documents.readers.base import Reader, TextReader
from rag.documents.readers.docx import DocxReader
from rag.documents.readers.html import HtmlReader
from rag.documents.readers.markdown import MarkdownReader
from rag.documents.readers.pdf import PdfReader
from rag.documents.readers.registry import extensions, find_reader, reader_for, register, unsupported_reason
from rag.documents.readers.text import PlainTextReader

register(PlainTextReader())
register(MarkdownReader())
register(HtmlReader())
register(DocxReader())
register(PdfReader())

__all__ = [
    "Reader",
    "TextReader",
    "extensions",
    "find_reader",
    "reader_for",
    "register",
    "unsupported_reason",
]
