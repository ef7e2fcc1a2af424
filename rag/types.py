"""Typed records shared by ingest, index, retrieval and the user interfaces."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


# Below this calibrated confidence (rag.search.confidence), a hit does not seem to answer its question.
CONFIDENCE_THRESHOLD = 0.5
# Below this, nothing in the documents seems to answer ("Not in your documents"); between the two the
# best passage is shown as a weak answer ("May not answer this"). See rag.search.verdict. Chosen on the
# tune halves of bench/devsets (seed, httpx, scifact-natural; asked alone and in conversation): the
# highest line that hides at most 1 in 40 right answers (0.25: 2.4%; 0.3: 4.8%) and calls every
# question on another topic "not in your documents".
WEAK_CONFIDENCE_THRESHOLD = 0.25

@dataclass(frozen=True, slots=True)
class Location:
    """Where a piece of a document's text is, as its reader counts it.

    ``line_start``/``line_end``: 1-based, inclusive lines of the document's text, counted within
    ``page`` for a paged format (PDF: 1-based page; None for formats without pages).
    ``col_start``/``col_end``: 1-based, ``col_end`` inclusive, characters of the decoded line; set,
    both, only when the span does not hold its lines whole. ``section``: the heading path
    ("Setup > Install") for formats with headings, else None.
    """

    line_start: int
    line_end: int
    col_start: int | None = None
    col_end: int | None = None
    page: int | None = None
    section: str | None = None


@dataclass(frozen=True, slots=True, init=False)
class Citation:
    """Where a passage (or a sentence of it) lives: a file relative to the seeds folder and its
    :class:`Location` in it, whose fields it also answers by name (``citation.line_start``...).

    Made as ``Citation(source, line_start, line_end, col_start=None, col_end=None, page=None,
    section=None)``. ``col_start``/``col_end`` are set, both, only for a passage that does not hold
    its lines whole: a piece of a very long line, say. Then ``str()`` reads ``file:LINE:COL-COL`` on
    one line, ``file:LINE:COL-LINE:COL`` across lines; otherwise ``file:LINE`` or
    ``file:START-END``. ``page`` (paged formats such as PDF; lines then count within the page) reads
    ``file:pPAGE:LINES``; ``section`` (the heading path) is carried for display and JSON and leaves
    ``str()`` as it is, so that a Markdown citation stays ``file:LINE`` for editors.
    """

    source: str
    location: Location

    def __init__(self, source: str, line_start: int, line_end: int, col_start: int | None = None,
                 col_end: int | None = None, page: int | None = None, section: str | None = None) -> None:
        object.__setattr__(self, "source", source)  # frozen: set once, here
        object.__setattr__(self, "location", Location(line_start, line_end, col_start, col_end, page, section))

    line_start = property(lambda self: self.location.line_start)
    line_end = property(lambda self: self.location.line_end)
    col_start = property(lambda self: self.location.col_start)
    col_end = property(lambda self: self.location.col_end)
    page = property(lambda self: self.location.page)
    section = property(lambda self: self.location.section)

    def __str__(self) -> str:
        where = self.source if self.page is None else f"{self.source}:p{self.page}"
        if self.col_start is not None and self.col_end is not None:
            if self.line_end == self.line_start:
                return f"{where}:{self.line_start}:{self.col_start}-{self.col_end}"
            return f"{where}:{self.line_start}:{self.col_start}-{self.line_end}:{self.col_end}"
        if self.line_end == self.line_start:
            return f"{where}:{self.line_start}"
        return f"{where}:{self.line_start}-{self.line_end}"


@dataclass(frozen=True, slots=True)
class Passage:
    """One retrievable unit: a paragraph, or a piece of a long paragraph split at sentence boundaries.

    ``text`` is exactly the file's text between ``char_start`` and ``char_end`` (offsets into the
    decoded file with CRLF read as LF), which spans lines ``line_start``..``line_end`` (1-based,
    inclusive; within ``page`` for a paged format). ``paragraph`` is the 1-based number of the
    paragraph (the reader's block) within its file.
    """

    text: str
    source: str
    line_start: int
    line_end: int
    paragraph: int
    char_start: int
    char_end: int
    hash: str
    col_start: int = 1  # 1-based column of the first character (pieces of split paragraphs)
    # 1-based column of the last character, set only when the passage does not hold its lines whole
    # (a piece of a long line): then its citation names columns.
    col_end: int | None = None
    page: int | None = None  # 1-based page of a paged format (PDF); lines then count within it
    section: str | None = None  # heading path ("Setup > Install") in formats with headings
    title: str | None = None  # the document's title, where the reader found one (HTML, DOCX)

    @property
    def citation(self) -> Citation:
        if self.col_end is not None:
            return Citation(
                self.source, self.line_start, self.line_end, self.col_start, self.col_end, self.page, self.section
            )
        return Citation(self.source, self.line_start, self.line_end, page=self.page, section=self.section)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that was not indexed, and why."""

    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class Answer:
    """The sentence of a passage that best answers the question, with its exact place in the file.

    Lines are 1-based; columns are 1-based and ``col_end`` is inclusive, both counted in characters
    of the decoded line.
    """

    text: str
    score: float
    line_start: int
    col_start: int
    line_end: int
    col_end: int
    char_start: int
    char_end: int


@dataclass(slots=True)
class Hit:
    """One search result, best first. ``score`` is comparable only within one result list."""

    row: int  # the passage's row in the index version it came from
    rank: int
    score: float
    text: str
    source: str
    path: str
    line_start: int
    line_end: int
    paragraph: int
    char_start: int
    char_end: int
    dense_score: float | None = None
    bm25_score: float | None = None
    answer: Answer | None = None
    terms: tuple[str, ...] = ()
    col_start: int | None = None  # set, with col_end, only when the citation names columns
    col_end: int | None = None
    page: int | None = None  # 1-based page (PDF); None for formats without pages
    section: str | None = None  # heading path, where the format has headings
    title: str | None = None  # the document's title, where the reader found one
    # the probability that the passage answers the question, the same in every mode and corpus
    # (rag.search.confidence); None only when it was not computed
    confidence: float | None = None

    @property
    def citation(self) -> Citation:
        return Citation(
            self.source, self.line_start, self.line_end, self.col_start, self.col_end, self.page, self.section
        )

    def to_dict(self, *, public: bool = False) -> dict:
        """The JSON shape of ``rag ask --json`` (keys documented in DESIGN.md keep their meaning).
        ``public``: without ``path``, the absolute path on this machine (a server's clients name the
        document by ``source``)."""
        out = {
            "rank": self.rank,
            "score": round(float(self.score), 6),
            "source": self.source,
            "path": self.path,
            "line_start": self.line_start,
            "line_end": self.line_end,
            "paragraph": self.paragraph,
            "col_start": self.col_start,
            "col_end": self.col_end,
            "page": self.page,
            "section": self.section,
            "title": self.title,
            "citation": str(self.citation),
            "text": self.text,
            "dense_score": None if self.dense_score is None else round(float(self.dense_score), 6),
            "bm25_score": None if self.bm25_score is None else round(float(self.bm25_score), 6),
            "terms": list(self.terms),
            "confidence": None if self.confidence is None else round(float(self.confidence), 4),
        }
        if public:
            del out["path"]
        if self.answer is not None:
            a = self.answer
            out["answer"] = {
                "text": a.text,
                "score": round(float(a.score), 6),
                "line_start": a.line_start,
                "col_start": a.col_start,
                "line_end": a.line_end,
                "col_end": a.col_end,
                "citation": str(Citation(self.source, a.line_start, a.line_end, page=self.page)),
            }
        return out


@dataclass(slots=True)
class BuildStats:
    """What a build did. ``changed`` is False when the index was already up to date."""

    files: int = 0
    passages: int = 0
    embedded: int = 0
    reused: int = 0
    removed: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    changed: bool = True
    index_dir: Path | None = None
    encoder: str = ""
    reader: str = ""  # where a pluggable reader read the changed files ("ray", "driver"); "" when read here
    exported_query_encoder: bool = False  # the model was exported for ONNX Runtime in this build

    def summary(self) -> str:
        files = f"{self.files} file{'' if self.files == 1 else 's'}"
        passages = f"{self.passages} passage{'' if self.passages == 1 else 's'}"
        if not self.changed:
            head = f"index up to date: {files}, {passages}"
        else:
            head = (
                f"indexed {files}, {passages} "
                f"({self.embedded} embedded, {self.reused} reused, {self.removed} removed)"
            )
        tail = f" in {self.seconds:.1f}s"
        if self.skipped:
            tail += f"; skipped {len(self.skipped)} file(s)"
        if self.exported_query_encoder:
            tail += "; prepared the fast query encoder for questions (ONNX Runtime, once per model)"
        return head + tail
