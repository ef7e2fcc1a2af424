"""Passages as index records: their stable keys and JSON payloads (what the backend stores)."""

from __future__ import annotations

from dataclasses import fields

from rag.errors import IndexCorruptError
from rag.index.store import REBUILD_HINT
from rag.types import Passage

_FIELDS = tuple(f.name for f in fields(Passage))  # every field: a new one (a reader's location) needs no change here


# -- passages as index records: a stable key and a JSON payload ------------------------------------
KEY_HASH_CHARS = 16


def source_prefix(source: str) -> str:
    """The prefix every key of ``source``'s passages starts with (its length makes it unambiguous:
    no other source's keys start with it)."""
    return f"{len(source)}:{source}#"


def passage_key(p: Passage) -> str:
    """A key that stays the same across builds while the passage's source, place and text do:
    ``<len>:<source>#<char_start>-<char_end>#<text hash>``."""
    return f"{source_prefix(p.source)}{p.char_start}-{p.char_end}#{p.hash[:KEY_HASH_CHARS]}"


def key_text_hash(key: str) -> str:
    """The text-hash part of a :func:`passage_key` (what a build reuses a stored vector by)."""
    return key.rsplit("#", 1)[-1]


def passage_payload(p: Passage) -> dict:
    """The passage as JSON (fields that are None are left out)."""
    return {k: v for k in _FIELDS if (v := getattr(p, k)) is not None}


def passage_from_payload(d: dict, where: str = "the index") -> Passage:
    try:
        return Passage(**{k: d[k] for k in _FIELDS if k in d})
    except (KeyError, TypeError) as exc:
        raise IndexCorruptError(f"a passage in {where} is damaged ({exc}); {REBUILD_HINT}") from None
