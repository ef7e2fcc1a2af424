"""Write questions.jsonl from questions.src.jsonl: each answer checked on its pages as PDFium reads
them (the raw text layer, blanks collapsed, independent of rag's reader), and its gold line range
found on those pages as rag's PDF reader reads them (the lines `rag eval` compares citations with).

    .venv/bin/python bench/devsets/pdfs/make_questions.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pypdfium2 as pdfium

from rag.documents.readers.pdf import PdfReader

HERE = Path(__file__).resolve().parent


def squash(text: str) -> str:
    return " ".join(text.replace("\ufffe", "-").split())


def lines_holding(lines: list[str], answer: str) -> tuple[int, int] | None:
    """The shortest 1-based range of ``lines`` whose joined text holds ``answer``."""
    want = squash(answer)
    for size in range(1, 8):
        for a in range(len(lines) - size + 1):
            if want in squash(" ".join(lines[a : a + size])):
                return a + 1, a + size
    return None


def main() -> int:
    out, bad = [], 0
    docs: dict[str, tuple] = {}
    for line in (HERE / "questions.src.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        src = q["source"]
        if src not in docs:
            data = (HERE / "docs" / src).read_bytes()
            pdf = pdfium.PdfDocument(data)
            raw = [squash(pdf[i].get_textpage().get_text_range()) for i in range(len(pdf))]
            docs[src] = (raw, PdfReader().parse(src, data))
        raw, doc = docs[src]
        gold = []
        for p in q["pages"]:
            if squash(q["answer"]) not in raw[p - 1]:
                print(f"{q['id']}: {q['answer']!r} is not on page {p} of {src}", file=sys.stderr)
                bad += 1
            span = lines_holding(doc.lines(p), q["answer"])
            if span is None:
                print(f"{q['id']}: rag's reader does not keep {q['answer']!r} on page {p}", file=sys.stderr)
                span = (1, len(doc.lines(p)))
            gold.append({"source": src, "line_start": span[0], "line_end": span[1], "page": p})
        out.append({"id": q["id"], "question": q["question"], "kind": "answerable", "style": "pdf", "layout": q["layout"],
                    "gold": gold, "answer": q["answer"]})
    (HERE / "questions.jsonl").write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in out), encoding="utf-8")
    print(f"{len(out)} questions written, {bad} answers not found on their pages")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
