"""Readers, one module per format, and the registry that picks one by file name.

To add a format: write ``readers/<format>.py`` with a :class:`~rag.documents.readers.base.Reader`
subclass (its ``extensions`` and ``parse``), and register it below by name with the same extensions
(:func:`register_lazy`: its module is imported when a file of its kind is first looked up, so that a
`rag ask`, which only lists the extensions, imports no reader; a mismatch fails on first use).
"""

from rag.documents.readers.registry import extensions, find_reader, reader_for, register, register_lazy, unsupported_reason

# Imported when a file of their kind is first looked up (listing the extensions imports none).
register_lazy("rag.documents.readers.text:PlainTextReader", (".txt",))
register_lazy("rag.documents.readers.markdown:MarkdownReader", (".md",))
register_lazy("rag.documents.readers.html:HtmlReader", (".html", ".htm"))
register_lazy("rag.documents.readers.docx:DocxReader", (".docx",))
register_lazy("rag.documents.readers.pdf:PdfReader", (".pdf",))


def __getattr__(name: str):
    if name in ("Reader", "TextReader"):
        from rag.documents.readers import base  # on first use: listing the extensions loads no reader

        return getattr(base, name)
    raise AttributeError(f"module 'rag.documents.readers' has no attribute {name!r}")


__all__ = [
    "Reader",
    "TextReader",
    "extensions",
    "find_reader",
    "reader_for",
    "register",
    "register_lazy",
    "unsupported_reason",
]
