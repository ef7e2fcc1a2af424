"""Where to highlight: matched words and answer sentences in passages, and the cited lines of a file.

These functions read files and stem words (numpy, PyStemmer), so the app calls them from workers
and imports those modules only there; the widgets import just the data classes and turn the offsets
into styles. No UI code here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import RagError
from rag.types import Hit

Span = tuple[int, int]  # [start, end) character offsets

CONTEXT_LINES = 400  # lines shown around the cited ones in the source view


@dataclass(frozen=True, slots=True)
class Marks:
    """Highlights of one passage: matched words and the answer sentence, as offsets into ``hit.text``."""

    words: tuple[Span, ...] = ()
    answer: Span | None = None

    def in_answer(self) -> tuple[Span, ...]:
        """The matched words inside the answer sentence, as offsets into the sentence."""
        if self.answer is None:
            return ()
        a0, a1 = self.answer
        return tuple((s - a0, e - a0) for s, e in self.words if s >= a0 and e <= a1)


def matched_words(text: str, terms: tuple[str, ...] | set[str], cache: dict[str, bool] | None = None) -> list[Span]:
    """Every word of ``text`` whose stem is one of the query ``terms``."""
    if not terms:
        return []
    from rag.documents.tokens import TOKEN_RE, tokenize  # the stemmer loads in a worker, not with the first frame

    terms = set(terms)
    cache = {} if cache is None else cache
    out = []
    for m in TOKEN_RE.finditer(text):
        w = m.group().lower()
        hit = cache.get(w)
        if hit is None:
            hit = cache[w] = any(t in terms for t in tokenize(w))
        if hit:
            out.append((m.start(), m.end()))
    return out


def marks_for(hit: Hit, cache: dict[str, bool] | None = None) -> Marks:
    answer = None
    a = hit.answer
    if a is not None:
        a0, a1 = a.char_start - hit.char_start, a.char_end - hit.char_start
        if 0 <= a0 < a1 <= len(hit.text):
            answer = (a0, a1)
    return Marks(tuple(matched_words(hit.text, hit.terms, cache)), answer)


def only_common_words(question: str) -> bool:
    """True when nothing in the question is searchable by words (only stopwords or symbols)."""
    from rag.documents.tokens import query_terms  # as in matched_words: off the first frame

    return not query_terms(question)


@dataclass(slots=True)
class SourceDocument:
    """A window of a seed file around a citation, with what to highlight (line numbers are 1-based)."""

    source: str
    first_line: int
    lines: list[str]
    total_lines: int
    cited: tuple[int, int]
    answer: dict[int, Span] = field(default_factory=dict)  # line -> span of the answer sentence
    words: dict[int, list[Span]] = field(default_factory=dict)  # line -> matched words (cited lines)
    stale: bool = False  # the cited lines no longer hold the passage (file edited since the build)

    @property
    def last_line(self) -> int:
        return self.first_line + len(self.lines) - 1


class SourceUnavailable(Exception):
    """The seed file of a citation cannot be read now; the message is one line for the user."""


def load_source(hit: Hit, context: int = CONTEXT_LINES) -> SourceDocument:
    """Read the cited file through its reader, as the index saw it, and mark the cited lines
    (of the cited page, for a paged format), answer and matched words."""
    from rag.documents.readers import reader_for  # with the first source view, not the first frame

    try:
        document = reader_for(hit.path).read(Path(hit.path), source=hit.source)
        all_lines = document.lines(page=hit.page)
    except ValueError:  # the file has other pages now than when it was indexed
        raise SourceUnavailable(f"cannot open {hit.source}: it changed; run `rag index` to update the index") from None
    except RagError as exc:
        raise SourceUnavailable(f"cannot open {hit.source}: {str(exc).split(': ', 1)[-1]}") from None
    except OSError as exc:
        raise SourceUnavailable(f"cannot open {hit.source}: {exc.strerror or exc}") from None
    if len(all_lines) > 1 and all_lines[-1] == "":
        all_lines.pop()  # the newline that ends the last line does not start another one
    n = len(all_lines)
    ls, le = max(1, hit.line_start), max(hit.line_start, hit.line_end)
    first = max(1, ls - context)
    last = min(n, le + context)
    doc = SourceDocument(hit.source, first, all_lines[first - 1 : last], n, (ls, le))
    cited_text = " ".join(" ".join(all_lines[ls - 1 : le]).split())
    doc.stale = le > n or " ".join(hit.text.split()) not in cited_text
    if doc.stale:
        return doc
    cache: dict[str, bool] = {}
    for no in range(ls, le + 1):
        doc.words[no] = matched_words(all_lines[no - 1], hit.terms, cache)
    a = hit.answer
    if a is not None and ls <= a.line_start <= a.line_end <= le:
        for no in range(a.line_start, a.line_end + 1):
            line = all_lines[no - 1]
            start = a.col_start - 1 if no == a.line_start else 0
            end = a.col_end if no == a.line_end else len(line)
            if 0 <= start < end <= len(line):
                doc.answer[no] = (start, end)
    return doc
