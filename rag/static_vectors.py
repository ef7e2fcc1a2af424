"""Cheap meaning vectors for sentences: the normalized mean of the model's input word-piece
embeddings of a text's words, with no transformer layers.

The answer sentence compares every sentence of the top passages with the question; running the
model on each of them would cost far more than the search. These vectors need only the model's
word-embedding table and its tokenizer, so every query encoder (numpy, ONNX Runtime) can offer them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

_WORD = re.compile(r"\w+")
_CACHE_WORDS = 200_000


class StaticVectors:
    """``sv(texts)``: a float32 ``(len(texts), dim)`` array of unit rows (zero rows for texts
    without words)."""

    def __init__(self, word_embeddings: np.ndarray, tokenizer: Tokenizer) -> None:
        self.word = word_embeddings
        self.tokenizer = tokenizer
        self._pieces: dict[str, tuple[int, ...]] = {}

    @classmethod
    def load(cls, model_dir: Path) -> StaticVectors:
        """From a model folder (tokenizer.json, model.safetensors); the table is memory-mapped."""
        from .numpy_encoder import load_word_embeddings

        tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        tokenizer.no_padding()  # the file may ask for padding to a fixed length
        tokenizer.no_truncation()
        return cls(load_word_embeddings(Path(model_dir)), tokenizer)

    def __call__(self, texts: list[str]) -> np.ndarray:
        word = self.word
        out = np.zeros((len(texts), word.shape[1]), dtype=np.float32)
        ids: list[int] = []
        starts: list[int] = []
        rows: list[int] = []
        for i, text in enumerate(texts):
            pieces = [p for w in _WORD.findall(text.lower()) for p in self._pieces_of(w)]
            if pieces:
                rows.append(i)
                starts.append(len(ids))
                ids.extend(pieces)
        if ids:
            sums = np.add.reduceat(word[np.asarray(ids)], np.asarray(starts), axis=0)
            norms = np.linalg.norm(sums, axis=1, keepdims=True)
            out[rows] = sums / np.maximum(norms, 1e-12)
        return out

    def _pieces_of(self, w: str) -> tuple[int, ...]:
        ids = self._pieces.get(w)
        if ids is None:
            ids = tuple(self.tokenizer.encode(w, add_special_tokens=False).ids)
            if len(self._pieces) < _CACHE_WORDS:
                self._pieces[w] = ids
        return ids
