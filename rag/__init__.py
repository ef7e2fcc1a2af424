"""rag: local, offline question answering over a folder of documents, with exact citations.

The public API::

    from rag import Retriever, build_index
    stats = build_index("seeds", "indexes/default")
    hits = Retriever.open("indexes/default").search("How many participants are expected?", k=5)

Importing this package is cheap: heavy libraries load on first use.
"""

from __future__ import annotations

from rag.version import __version__

__all__ = [
    "Answer",
    "BuildStats",
    "Citation",
    "Hit",
    "Passage",
    "RagError",
    "Retriever",
    "build_index",
    "__version__",
]

import logging as _logging

from rag.errors import RagError
from rag.types import Answer, BuildStats, Citation, Hit, Passage


# Library warnings go to the "rag" logger; the application decides whether and how to show them.
_logging.getLogger("rag").addHandler(_logging.NullHandler())


def __getattr__(name: str):
    if name == "Retriever":
        from rag.search.retriever import Retriever  # heavy (numpy, faiss): `import rag` stays light

        return Retriever
    if name == "build_index":
        from rag.indexing.build import build_index  # heavy, as above: loaded on first use

        return build_index
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
