"""Synthetic data that more than one benchmark uses: 20,000 short notes, and an encoder with the
real model's identity that returns cheap deterministic vectors (embedding cost is then not what
is measured: the vectors' values do not change the cost of opening an index, updating it or
searching it)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

WORDS = (
    "talks delegation ceasefire observers participants congress region government opposition city "
    "agreement council report meeting border river harbour market school winter spring summer road "
    "bridge station museum library garden factory village mountain forest valley island coast"
).split()


class SyntheticEncoder:
    """The real model's identity (``info``: name, path, weights hash, dimension; its word
    ``pieces``) with deterministic pseudo-random unit vectors: a text's vector is seeded by its hash.

    Both come from the rag under test (``model_info(default_model_dir())`` and ``word_pieces(path)``
    of its model module), so that another commit's code can be measured with it.
    """

    path_name = "synthetic"

    def __init__(self, info, pieces) -> None:
        self.info = info
        self._pieces = pieces

    def token_ends(self, text: str) -> list[int]:
        return self._pieces.token_ends(text)

    def encode(self, texts, progress=None, cancel=None) -> np.ndarray:
        texts = list(texts)
        out = np.empty((len(texts), self.info.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode("utf-8")).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.info.dim).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
            if progress is not None and (i + 1) % 1000 == 0:
                progress(i + 1, len(texts))
        if progress is not None:
            progress(len(texts), len(texts))
        return out


def write_notes(seeds: Path, n: int = 20_000) -> None:
    """``n`` files of one short paragraph each, 1,000 to a subfolder (seed 7: the same every time)."""
    rng = np.random.default_rng(7)
    seeds.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sub = seeds / f"d{i // 1000:02d}"
        sub.mkdir(exist_ok=True)
        words = [WORDS[j] for j in rng.integers(0, len(WORDS), 30)]
        text = f"Note {i}. " + " ".join(words).capitalize() + ".\n"
        (sub / f"note{i:05d}.txt").write_text(text, encoding="utf-8")
