"""Reading a BEIR-layout data set: corpus.jsonl, queries-<split>.jsonl, qrels-<split>.tsv."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from rag.errors import DataError
from rag.documents.chunking import text_hash
from rag.documents.headers import with_header
from rag.types import Passage


@dataclass(slots=True)
class Dataset:
    name: str
    root: Path
    passages: list[Passage]  # one per corpus record: its text, its title as the passage's title; source = _id
    corpus_sha256: str
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise DataError(f"{path} not found: a BEIR folder has corpus.jsonl, queries-SPLIT.jsonl and qrels-SPLIT.tsv")
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError as exc:
                    raise DataError(f"{path} line {n} is not JSON ({exc})") from None
    return out


def record_text(rec: dict) -> str:
    title = (rec.get("title") or "").strip()
    text = (rec.get("text") or "").strip()
    return f"{title} {text}".strip() if title else text


def record_parts(rec: dict) -> tuple[str | None, str]:
    """(the record's title or None, its text); a record with only a title is its title as text."""
    title = " ".join((rec.get("title") or "").split()) or None
    text = (rec.get("text") or "").strip()
    if not text:
        return None, title or ""
    return title, text


def load(root: str | Path, split: str = "test") -> Dataset:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    corpus_path = root / "corpus.jsonl"
    if not corpus_path.is_file():
        raise DataError(f"{corpus_path} not found: a BEIR folder has corpus.jsonl, queries-SPLIT.jsonl and qrels-SPLIT.tsv")
    corpus_sha = hashlib.sha256(corpus_path.read_bytes()).hexdigest()
    passages = []
    for line_no, rec in enumerate(_jsonl(corpus_path), start=1):
        # The title is the passage's title: put in front of the text for embedding and BM25 (a
        # contextual chunk header, as for a document's passages), shown apart from the text.
        title, text = record_parts(rec)
        if not text:
            continue
        h = text_hash(with_header(text, title, None))
        passages.append(Passage(text, str(rec["_id"]), line_no, line_no, 1, 0, len(text), h, title=title))
    qpath = root / f"queries-{split}.jsonl"
    if not qpath.is_file():
        qpath = root / "queries.jsonl"
    queries = {str(q["_id"]): q["text"] for q in _jsonl(qpath)}
    qrels: dict[str, dict[str, int]] = {}
    rpath = root / f"qrels-{split}.tsv"
    if not rpath.is_file():
        rpath = root / "qrels" / f"{split}.tsv"
    if not rpath.is_file():
        raise DataError(f"qrels for split {split!r} not found in {root}")
    with open(rpath, encoding="utf-8") as f:
        for n, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if n == 0 and parts[0] == "query-id":
                continue
            if len(parts) < 3:
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries = {q: t for q, t in queries.items() if q in qrels}
    return Dataset(root.name, root, passages, corpus_sha, queries, qrels)
