"""The corpus of ``rag eval --formats`` (``rag/data/formats_eval.txt``) and where its answers are.

:func:`load_corpus` reads the documents (headings and blocks that can answer) and the questions,
each naming the block that answers it. A block's **gold location** (:class:`Gold`) is its file plus
its lines as the renderer (:mod:`rag.evaluation.formats_render`) wrote them, or, for PDF and HTML,
its page or heading path, whose lines :func:`resolve` finds in the reader's text (the only line
numbering these formats have; a block the reader lost cannot be found, and stays without lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from rag.documents.readers import reader_for
from rag.errors import RagError

DATA = Path(__file__).resolve().parents[1] / "data" / "formats_eval.txt"
FORMATS = ("pdf", "html", "docx", "md", "txt")


@dataclass(slots=True)
class Item:
    """One piece of a source document: a heading (``kind == "head"``) or a block that can answer."""

    kind: str  # head | para | list | table | code
    id: str = ""
    level: int = 0  # headings
    text: str = ""  # heading, paragraph
    rows: list[str] = field(default_factory=list)  # list items, table rows ("a | b"), code lines
    columns: bool = False  # a heading whose PDF page is laid out in two columns
    lang: str = ""


@dataclass(slots=True)
class SourceDoc:
    file: str
    title: str
    items: list[Item]

    @property
    def format(self) -> str:
        return self.file.rsplit(".", 1)[1]


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    block: str  # the id of the block that answers it
    file: str


@dataclass(slots=True)
class Gold:
    """Where a block is: ``file``, ``page`` (PDF), ``section`` (formats with headings) and its lines
    (1-based, inclusive; within the page for PDF). ``lines`` is None until known."""

    file: str
    words: str  # the block's text, for finding it in the reader's text
    page: int | None = None
    section: str | None = None
    lines: tuple[int, int] | None = None


def load_corpus(path: Path = DATA) -> tuple[list[SourceDoc], list[Question]]:
    docs: list[SourceDoc] = []
    questions: list[Question] = []
    cur: SourceDoc | None = None
    pending: Item | None = None  # a list/table/code block taking rows
    for raw in path.read_text(encoding="utf-8").split("\n"):
        line = raw.rstrip()
        if pending is not None and pending.kind == "code":
            if line == "[end]":
                pending = None
            else:
                pending.rows.append(line)
            continue
        if pending is not None and (line.startswith("- ") or line.startswith("|")):
            pending.rows.append(line[2:] if line.startswith("- ") else " | ".join(c.strip() for c in line.strip("|").split("|")))
            continue
        pending = None
        if not line or (cur is None and line.startswith("#")):
            continue  # blank, or the file's own comments
        if line.startswith("=== "):
            cur = SourceDoc(line[4:].strip(), "", [])
            docs.append(cur)
        elif cur is None:
            raise ValueError(f"{path}: text before the first document: {line!r}")
        elif line.startswith("title: "):
            cur.title = line[7:].strip()
        elif line.startswith("#"):
            marks = len(line) - len(line.lstrip("#"))
            text = line[marks:].strip()
            columns = text.endswith("[columns]")
            cur.items.append(Item("head", level=marks, text=text.removesuffix("[columns]").strip(), columns=columns))
        elif line.startswith("? "):
            block, q = line[2:].split(":", 1)
            questions.append(Question(q.strip(), block.strip(), cur.file))
        elif m := re.match(r"\[([\w-]+)(?::(\w+)\s*(\w*))?\]\s*(.*)$", line):
            ident, kind, lang, text = m.groups()
            item = Item(kind or "para", id=ident, text=text, lang=lang or "")
            cur.items.append(item)
            if kind:
                pending = item
        else:
            raise ValueError(f"{path}: cannot read the line {line!r}")
    ids = {it.id for d in docs for it in d.items if it.id}
    for q in questions:
        if q.block not in ids:
            raise ValueError(f"{path}: question {q.text!r} names no block {q.block!r}")
    return docs, questions


def block_words(item: Item) -> str:
    return item.text if item.kind == "para" else " ".join(item.rows)


# Finding blocks in the reader's text.
_WORD = re.compile(r"[A-Za-z0-9]+")


def find_lines(lines: list[str], words: str, probe: int = 6) -> tuple[int, int] | None:
    """The 1-based line range of ``lines`` whose words run from the first ``probe`` words of
    ``words`` to its last ``probe``; None when they are not there (in that order)."""
    seq: list[tuple[str, int]] = [(w.lower(), i) for i, line in enumerate(lines, start=1) for w in _WORD.findall(line)]
    toks = [w.lower() for w in _WORD.findall(words)]
    if not toks:
        return None
    head, tail = toks[:probe], toks[-probe:]
    flat = [w for w, _ in seq]

    def at(needle: list[str], start: int) -> int | None:
        for i in range(start, len(flat) - len(needle) + 1):
            if flat[i : i + len(needle)] == needle:
                return i
        return None

    a = at(head, 0)
    if a is None:
        return None
    b = at(tail, a + len(head) - len(tail) if len(toks) >= len(head) else a)
    if b is None:
        return None
    return seq[a][1], seq[b + len(tail) - 1][1]


def resolve(gold: dict[str, Gold], folder: Path) -> None:
    """Fill in the lines of PDF and HTML blocks from the reader's text of their page (PDF) or
    document (HTML); left None where the reader's text does not hold the block's words."""

    docs: dict[str, object] = {}
    for g in gold.values():
        if g.lines is not None:
            continue
        if g.file not in docs:
            try:
                docs[g.file] = reader_for(folder / g.file).read(folder / g.file, source=g.file)
            except RagError:
                docs[g.file] = None
        d = docs[g.file]
        if d is not None:
            g.lines = find_lines(d.lines(g.page), g.words)
