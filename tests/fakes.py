"""A small deterministic encoder for unit tests: hashed bag of words, normalized.

It satisfies rag.embedding.document_encoder.Encoder, so builds and searches run without the real model. Words that
share letters get no similarity: only exact word overlap makes vectors close, which is enough to
test plumbing (the end-to-end tests use the real model).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time

import numpy as np

from rag.embedding.model import ModelInfo

WORD = re.compile(r"\w+")


class FakeEncoder:
    path_name = "fake"

    def __init__(self, dim: int = 64, delay: float = 0.0, name: str = "fake-bow") -> None:
        self.info = ModelInfo(name=name, path="", dim=dim, max_tokens=64, weights_sha256="fake-" + name)
        self.delay = delay
        self.calls: list[list[str]] = []

    def token_ends(self, text: str) -> list[int]:
        return [m.end() for m in WORD.finditer(text)]

    def _word_vec(self, word: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "little")
        return np.random.default_rng(seed).standard_normal(self.info.dim).astype(np.float32)

    def encode(self, texts, progress=None, cancel: threading.Event | None = None) -> np.ndarray:
        texts = list(texts)
        self.calls.append(texts)
        out = np.zeros((len(texts), self.info.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            if cancel is not None and cancel.is_set():
                from rag.embedding.document_encoder import BuildCancelled

                raise BuildCancelled("build cancelled; the previous index is unchanged")
            for w in WORD.findall(t.lower()):
                out[i] += self._word_vec(w)
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n > 0 else self._word_vec("<empty>") / np.linalg.norm(self._word_vec("<empty>"))
            if self.delay:
                time.sleep(self.delay)
            if progress is not None:
                progress(i + 1, len(texts))
        return out

    def encode_queries(self, texts) -> np.ndarray:
        """Like :meth:`encode`, without being recorded in ``calls`` (queries, not passages)."""
        calls = self.calls
        self.calls = []
        try:
            return self.encode(texts)
        finally:
            self.calls = calls

    @property
    def embedded(self) -> list[str]:
        return [t for call in self.calls for t in call]
