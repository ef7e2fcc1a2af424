"""Exceptions raised by the library.

Every error a user can cause is a :class:`RagError` whose message is one line that says what went
wrong and what to do. The CLI and the UI print ``str(error)`` and nothing else.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class of every expected error."""


class SeedsError(RagError):
    """The seeds folder is missing, empty or unreadable."""


class IndexMissingError(RagError):
    """No index has been built at this place yet."""


class IndexCorruptError(RagError):
    """The index on disk is damaged or incomplete."""


class IndexMismatchError(RagError):
    """The index was written by another format version or with another model."""


class IndexLockedError(RagError):
    """Another build holds the index's lock."""


class QuestionError(RagError):
    """The question cannot be searched (empty, or nothing searchable in it)."""


class ModelError(RagError):
    """The embedding model cannot be found or loaded."""


class DataError(RagError):
    """An evaluation data set is missing or malformed."""


class IndexPathError(RagError):
    """The index path cannot hold an index: it is a file, or cannot be read or created."""
