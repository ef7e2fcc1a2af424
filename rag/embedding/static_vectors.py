"""Cheap meaning vectors for sentences: the normalized mean of the model's input word-piece
embeddings of a text's words, with no transformer layers.

The answer sentence compares every sentence of the top passages with the question; running the
model on each of them would cost far more than the search. These vectors need only the model's
word-embedding table and its tokenizer, so every query encoder (ONNX Runtime, sentence-transformers)
can offer them.
"""

from __future__ import annotations

import json
import math
import mmap
from array import array
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, normalizers, pre_tokenizers

from rag.documents.tokens import all_words
from rag.embedding.model import word_pieces

_CACHE_WORDS = 8_192  # words whose pieces are kept: bounded, as questions bring new words without end (issue 23)
_ID = np.dtype(np.intc)  # array("i")
_PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE: longer sums are split in halves (left to reduceat here)


class _Pieces(dict[str | bytes, bytes]):
    """word (str, or ASCII bytes) -> its word-piece ids (C ints, as bytes), each word encoded alone.

    A dict (not a method) so that a sentence's words are looked up by ``map`` and their ids joined
    by ``bytes.join`` at C speed, with no Python int per piece. A miss asks the tokenizer (and is
    kept while there is room). Most misses are plain words (ASCII letters and digits), which a BERT
    normalizer and pre-tokenizer leave as they are: those go straight to the word-piece model, five
    times cheaper than the whole ``encode`` pipeline.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self._plain_max = _plain_words_to_model(tokenizer)

    def __missing__(self, w: str | bytes) -> bytes:
        if isinstance(w, bytes) and w.isalnum() and len(w) <= self._plain_max:
            ids = array("i", [t.id for t in self.tokenizer.model.tokenize(w.decode())]).tobytes()
        else:
            text = w.decode() if isinstance(w, bytes) else w
            ids = array("i", self.tokenizer.encode(text, add_special_tokens=False).ids).tobytes()
        if len(self) < _CACHE_WORDS:
            self[w] = ids
        return ids


def _plain_words_to_model(tokenizer: Tokenizer) -> int:
    """How long a plain lower-case word (``[a-z0-9]+``) may be for ``encode`` to give just what the
    word-piece model gives for it: 0 when not so. A BERT normalizer leaves such a word unchanged and
    a BERT pre-tokenizer keeps it whole; padding would add pieces, truncation remove some (a word
    has at most one piece per letter), and an added token spelled in letters could split it."""
    if tokenizer.padding is not None:
        return 0
    if not (tokenizer.normalizer is None or isinstance(tokenizer.normalizer, normalizers.BertNormalizer)):
        return 0
    if not (tokenizer.pre_tokenizer is None or isinstance(tokenizer.pre_tokenizer, pre_tokenizers.BertPreTokenizer)):
        return 0
    if any(t.content.isascii() and t.content.isalnum() for t in tokenizer.get_added_tokens_decoder().values()):
        return 0
    trunc = tokenizer.truncation
    return int(trunc["max_length"]) if trunc else 1 << 30


class StaticVectors:
    """``sv(texts)``: a float32 ``(len(texts), dim)`` array of unit rows (zero rows for texts
    without words)."""

    def __init__(self, word_embeddings: np.ndarray, tokenizer: Tokenizer) -> None:
        self.word = word_embeddings
        self.tokenizer = tokenizer
        self._pieces = _Pieces(tokenizer)

    @classmethod
    def load(cls, model_dir: Path) -> StaticVectors:
        """From a model folder (tokenizer.json, model.safetensors); the table is memory-mapped. The
        tokenizer (no padding, no truncation) is the process's shared one for that folder."""
        return cls(load_word_embeddings(Path(model_dir)), word_pieces(str(model_dir)).tokenizer)

    def __call__(self, texts: list[str]) -> np.ndarray:
        word = self.word
        out = np.zeros((len(texts), word.shape[1]), dtype=np.float32)
        pieces_of = self._pieces.__getitem__
        per_text = [b"".join(map(pieces_of, all_words(t))) for t in texts]
        lens = np.fromiter(map(len, per_text), dtype=np.intp, count=len(texts)) // _ID.itemsize
        rows = np.flatnonzero(lens)
        if rows.size:
            ids = np.frombuffer(b"".join(per_text), dtype=_ID)
            starts = (np.cumsum(lens) - lens)[rows]
            sums = segment_sums(word, ids, starts, lens[rows])
            norms = np.linalg.norm(sums, axis=1, keepdims=True)
            out[rows] = sums / np.maximum(norms, 1e-12)
        return out


def segment_sums(table: np.ndarray, ids: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """``np.add.reduceat(table[ids], starts, axis=0)`` for back-to-back segments of positive length
    (segment ``j`` is ``ids[starts[j] : starts[j] + lens[j]]``), equal to it bit for bit.

    reduceat sums each column on its own: 384 columns times a hundred sentences of small strided
    loops cost more than the rest of the answer sentence. Its order of additions is numpy's pairwise
    sum: the first row, plus the others summed by 8 interleaved accumulators (then added pairwise),
    with the last ``n % 8`` rows added one by one. The same additions on whole rows, all segments at
    once, give the same floats in 40% of the time, so the vectors (and answers) are unchanged.
    """
    n = lens - 1  # rows after the first
    long = n > _PAIRWISE_BLOCK
    blocks = np.where(long, 0, n >> 3)
    res = np.full((len(starts), table.shape[1]), -0.0, dtype=table.dtype)
    if blocks.any():
        seg, counts, rows = _rows_by_count(ids, starts + 1, 8 * blocks)
        rows = rows.reshape(len(seg), -1, 8)
        acc = table.take(rows[:, 0], axis=0)  # (segments, 8 accumulators, dim)
        _add_in_turn(acc, table, rows, counts // 8, first=1)
        for i, j in ((0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (4, 6)):  # ((0+1)+(2+3)) + ((4+5)+(6+7))
            acc[:, i] += acc[:, j]
        res[seg] = acc[:, 0] + acc[:, 4]
    tails = np.where(long, 0, n & 7)
    if tails.any():
        seg, counts, rows = _rows_by_count(ids, starts + 1 + 8 * blocks, tails)
        part = res[seg]
        _add_in_turn(part, table, rows, counts, first=0)
        res[seg] = part
    out = table.take(ids[starts], axis=0) + res
    for j in np.flatnonzero(long):
        s = int(starts[j])
        out[j] = np.add.reduceat(table[ids[s : s + int(lens[j])]], [0], axis=0)[0]
    return out


def _rows_by_count(ids: np.ndarray, firsts: np.ndarray, counts: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The segments with ``counts > 0``, most first; their counts; ``ids[firsts + i]`` for i < max
    count as a matrix (clipped past the end: only the first ``counts`` of a row are ever used)."""
    seg = np.argsort(-counts, kind="stable")
    seg = seg[: np.count_nonzero(counts)]
    counts = counts[seg]
    pos = firsts[seg, None] + np.arange(int(counts[0]))
    return seg, counts, ids[np.minimum(pos, len(ids) - 1)]


def _add_in_turn(acc: np.ndarray, table: np.ndarray, rows: np.ndarray, counts: np.ndarray, first: int) -> None:
    """``acc[j] += table[rows[j, i]]`` for ``first <= i < counts[j]``, i by i (counts descending, so
    round i concerns a prefix of the segments)."""
    todo = np.count_nonzero(counts[:, None] > np.arange(int(counts[0])), axis=0).tolist()
    for i in range(first, len(todo)):
        c = todo[i]
        acc[:c] += table.take(rows[:c, i], axis=0)


_WORD_KEYS = ("bert.embeddings.word_embeddings.weight", "embeddings.word_embeddings.weight")


def load_word_embeddings(model_dir: Path) -> np.ndarray:
    """The model's word-embedding table, ``(vocab, hidden)`` float32, memory-mapped when possible."""
    path = Path(model_dir) / "model.safetensors"
    for key in _WORD_KEYS:  # the usual case, mapped from the header alone (no safetensors import)
        word = _map_f32_tensor(path, key)
        if word is not None:
            return word
    from safetensors import safe_open  # only when weights are read (an export, the word-vector table), not at import

    try:
        with safe_open(str(path), framework="np") as f:
            keys = set(f.keys())
            key = next((k for k in _WORD_KEYS if k in keys), None)
            if key is None:
                raise ValueError(f"{path} has no word embeddings")
            word = _map_f32_tensor(path, key)
            if word is None:
                word = f.get_tensor(key).astype(np.float32)
    except ValueError:
        raise
    except Exception as exc:  # safetensors' own errors (bad header, truncated file, ...)
        raise ValueError(f"cannot read weights {path}: {exc}") from exc
    if word.ndim != 2:
        raise ValueError(f"{path}: word embeddings have shape {word.shape}")
    return word


def _map_f32_tensor(path: Path, key: str) -> np.ndarray | None:
    """A read-only memory map of one float32 tensor of a safetensors file, or None if not possible.

    The word-embedding table is most of the file but a query touches only a few of its rows:
    mapping it instead of copying it saves tens of milliseconds and ~45 MB of resident memory.
    """
    try:
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(header_len))
            info = header[key]
            start, end = (int(o) for o in info["data_offsets"])
            shape = tuple(int(d) for d in info["shape"])
            if info["dtype"] != "F32" or end - start != 4 * math.prod(shape) or len(shape) != 2:
                return None
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    offset = 8 + header_len + start
    if offset + 4 * math.prod(shape) > len(mapped):
        mapped.close()
        return None
    return np.frombuffer(mapped, dtype="<f4", count=math.prod(shape), offset=offset).reshape(shape)
