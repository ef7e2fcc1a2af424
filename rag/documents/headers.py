"""Contextual chunk headers: the document's title and the passage's heading path, put in front of
the passage's text for embedding and BM25 (never for display or citation).

A passage such as "Run make." under "Setup > Install" of "Build guide" is embedded and searched
as "Build guide > Setup > Install" followed by its text, so a question that names the document or
the section finds it. Measured on SciFact (titles as headers): see docs/retrieval-quality.md.
"""

from __future__ import annotations

from rag.types import Passage

SEPARATOR = " > "


def chunk_header(title: str | None, section: str | None) -> str:
    """``"title > section"``, without repeating the title when the section path starts with it
    (a Markdown file whose first heading is its title); "" when there is neither."""
    parts: list[str] = []
    if title:
        parts.append(" ".join(title.split()))
    if section:
        path = section.split(SEPARATOR)
        if parts and path and path[0].strip() == parts[0]:
            path = path[1:]
        parts.extend(p for p in path if p)
    return SEPARATOR.join(parts)


def with_header(text: str, title: str | None, section: str | None) -> str:
    """``text`` as it is embedded and searched: its header on a line of its own in front."""
    header = chunk_header(title, section)
    return f"{header}\n{text}" if header else text


def indexed_text(p: Passage) -> str:
    """What is embedded and tokenized for BM25 for passage ``p``."""
    return with_header(p.text, p.title, p.section)
