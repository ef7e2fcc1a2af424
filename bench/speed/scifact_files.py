"""SciFact abstracts written as a seeds folder, as issue 26 measures a build: one ``.txt`` per
abstract, its title on the first line, then its text in paragraphs of three sentences (a blank line
between them). rag reads each paragraph as one passage with the title as its header, so the texts it
embeds are known in advance (:func:`indexed_texts`) and a naive pipeline can embed the same ones.
"""

from __future__ import annotations

from pathlib import Path

from rag.documents.sentences import split_sentences
from rag.evaluation import beir

SENTENCES_PER_PARAGRAPH = 3


def abstracts(scifact: Path, n: int, skip: int = 0):
    """``n`` SciFact abstracts in corpus order, after the first ``skip`` (those without a title or text left out)."""
    out = [p for p in beir.load(scifact, "test").passages if p.title and p.text.strip()]
    return out[skip : skip + n]


def write_folder(folder: Path, passages, prefix: str = "") -> list[Path]:
    """One file per abstract in ``folder`` (created), named by its corpus id; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for p in passages:
        sents = split_sentences(p.text)
        paras = [" ".join(sents[i : i + SENTENCES_PER_PARAGRAPH]) for i in range(0, len(sents), SENTENCES_PER_PARAGRAPH)]
        path = folder / f"{prefix}{p.source}.txt"
        path.write_text(p.title.strip() + "\n\n" + "\n\n".join(paras) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def indexed_texts(folder: Path, names: list[str] | None = None) -> list[str]:
    """The texts rag embeds for the files of ``folder`` (or only ``names`` in it): each passage
    with its title header, read by rag's own reader and chunker."""
    from rag.documents.files import iter_seed_files
    from rag.documents.headers import indexed_text
    from rag.embedding.model import default_model_dir, model_info, word_pieces
    from rag.indexing.reading import read_file

    info = model_info(default_model_dir(), with_hash=False)
    ends = word_pieces(info.path).token_ends
    files, _ = iter_seed_files(folder)
    keep = set(names) if names is not None else None
    out = []
    for f in files:
        if keep is None or f.source in keep:
            out += [indexed_text(p) for p in read_file(f, ends, info.max_tokens - 2, 1 << 30).passages]
    return out
