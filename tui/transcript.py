"""The conversation as data, and its Markdown forms (a quoted passage, the exported conversation).

No UI code: the app keeps a list of :class:`Exchange` and hands it to these functions.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rag.search.verdict import verdict, verdict_line
from rag.types import Citation, Hit


@dataclass(slots=True)
class Exchange:
    """One question and what came back for it."""

    id: int
    question: str
    mode: str
    k: int
    hits: list[Hit] | None = None  # None while the search runs
    note: str | None = None  # a remark about the result (only common words, nothing matched)
    error: str | None = None  # why there is no result
    marks: list = field(default_factory=list)  # highlight.Marks per hit
    history: tuple[str, ...] = ()  # the conversation's earlier questions, oldest first (searched with them)
    shown: tuple[str | None, ...] = ()  # the passage shown as the answer to each of them (None: none, or not yet)

    @property
    def done(self) -> bool:
        return self.hits is not None or self.error is not None


def shown_answer(exchange: Exchange) -> str | None:
    """The passage an exchange showed as its answer: its top hit's text when the documents seemed to
    answer, weakly or not ("not in your documents" shows no answer), else None (also while it is still
    searching)."""
    hits = exchange.hits
    return hits[0].text if hits and verdict(hits) != "not_found" else None


def answer_citation(hit: Hit) -> Citation:
    """The citation of the hit's answer sentence (its own lines), or of the passage."""
    a = hit.answer
    if a is None:
        return hit.citation
    return Citation(hit.source, a.line_start, a.line_end, page=hit.page)


def quote_lines(text: str) -> list[str]:
    return [f"> {line}".rstrip() for line in text.split("\n")]


def quote_markdown(hit: Hit) -> str:
    """A passage as a Markdown quote followed by its citation."""
    return "\n".join([*quote_lines(hit.text), ">", f"> — `{hit.citation}`"]) + "\n"


def conversation_markdown(exchanges: list[Exchange], index_label: str, index_summary: str, when: str) -> str:
    """The whole conversation, with every answer, passage and citation.

    A file, not terminal output: the texts are kept exact, control characters included (the UI and
    the CLI show them through :mod:`rag.terminal_text`)."""
    out = ["# rag conversation", "", f"- Index: `{index_label}`" + (f" ({index_summary})" if index_summary else "")]
    out += [f"- Exported: {when}", ""]
    for n, ex in enumerate(exchanges, start=1):
        out += [f"## {n}. {ex.question}", ""]
        if ex.error is not None:
            out += [f"_No answer: {ex.error}_", ""]
            continue
        if ex.hits is None:
            out += ["_Still searching when exported._", ""]
            continue
        if ex.note:
            out += [f"_{ex.note}_", ""]
        if not ex.hits:
            out += ["_No passage matched._", ""]
            continue
        top = ex.hits[0]
        out += [f"**{verdict_line(ex.hits)}**", ""]  # what the card said
        if top.answer is not None and verdict(ex.hits) != "not_found":
            out += [f"> {top.answer.text} (`{answer_citation(top)}`)", ""]
        out += [f"Passages ({ex.mode}, k = {ex.k}):", ""]
        for h in ex.hits:
            out += [f"{h.rank}. `{h.citation}`", ""]
            out += ["   " + line for line in quote_lines(h.text)]
            out += [""]
    return "\n".join(out).rstrip() + "\n"


def export_path(folder: Path, stamp: str) -> Path:
    """A new file name in ``folder`` that does not overwrite an earlier export."""
    base = Path(folder) / f"rag-conversation-{stamp}.md"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"rag-conversation-{stamp}-{n}.md")
    return path


SHORT_PATH_CHARS = 40  # absolute paths up to this long are shown whole


def short_path(path: str | Path, cwd: str | Path | None = None, limit: int = SHORT_PATH_CHARS) -> str:
    """A path for display: relative to the current folder when inside it, else absolute when short
    enough, else its last two parts after an ellipsis."""
    p = Path(os.path.abspath(path))
    here = Path(os.path.abspath(cwd if cwd is not None else os.getcwd()))
    try:
        rel = p.relative_to(here)
        return rel.as_posix() or "."
    except ValueError:
        whole = p.as_posix()
        if len(whole) <= limit:
            return whole
        return "…/" + "/".join(p.parts[-2:])


def built_time(built_at: str) -> str:
    """``2026-11-25T09:14:03+00:00`` -> ``09:14`` in local time (with the date when not today); "" if unreadable."""
    try:
        when = datetime.fromisoformat(built_at)
    except (TypeError, ValueError):
        return ""
    if when.tzinfo is not None:
        when = when.astimezone()
    today = datetime.now(when.tzinfo).date()
    return when.strftime("%H:%M") if when.date() == today else when.strftime("%Y-%m-%d %H:%M")


def relocate_hit(hit: Hit, retriever) -> Hit | None:
    """The same passage (same file, same text) as found in another index version, or None."""
    for row, p in enumerate(getattr(retriever, "passages", ()) or ()):
        if p.source != hit.source or p.text != hit.text:
            continue
        dl, dc = p.line_start - hit.line_start, p.char_start - hit.char_start
        a = hit.answer
        if a is not None:
            try:
                a = dataclasses.replace(
                    a, line_start=a.line_start + dl, line_end=a.line_end + dl,
                    char_start=a.char_start + dc, char_end=a.char_end + dc,
                )
            except TypeError:
                a = None
        return dataclasses.replace(
            hit, row=row, line_start=p.line_start, line_end=p.line_end, paragraph=p.paragraph,
            char_start=p.char_start, char_end=p.char_end, answer=a,
        )
    return None


def model_label(name: str) -> str:
    """``sentence-transformers/all-MiniLM-L6-v2`` -> ``all-MiniLM-L6-v2``."""
    return name.rsplit("/", 1)[-1] if name else "?"


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")
