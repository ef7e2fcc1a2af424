"""Text analysis shared by indexing and searching: words, English stopwords, Snowball stems.

The BM25 index (:mod:`rag.index.lexical`), the answer sentence and the UI's highlighting all see the
same terms through :func:`tokenize`.
"""

from __future__ import annotations

import re
from functools import lru_cache, partial
from operator import is_not

TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")
MAX_QUERY_CHARS = 10_000


# Lucene's English stopwords, as bm25s's STOPWORDS_EN (kept here so that searching never imports
# bm25s, whose package import pulls in scipy; a test checks the two lists agree).
STOPWORDS_EN = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)


def _stopwords() -> frozenset[str]:
    return STOPWORDS_EN


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-cased words of two or more characters (the bm25s token pattern)."""
    return TOKEN_RE.findall(text.lower())


_WORD_RUN = re.compile(r"\w+")
# ASCII byte -> itself if a \w character (capitals lowered), else a space; bytes 128+ never occur.
_ASCII_WORDS = bytes(c + 32 if 65 <= c <= 90 else c if c < 128 and (chr(c).isalnum() or c == 95) else 32
                     for c in range(256))


def all_words(text: str) -> list[str] | list[bytes]:
    """The words of ``text`` (runs of ``\\w``) lower-cased, one-letter ones included.

    ASCII text (nearly every sentence) is split by ``bytes.translate`` and ``bytes.split``, five
    times faster than the regex; its words come back as bytes.
    """
    if text.isascii():
        return text.encode().translate(_ASCII_WORDS).split()
    return _WORD_RUN.findall(text.lower())


class _Terms(dict[str | bytes, str | None]):
    """word (str, or ASCII bytes) -> its stem, or None for a stopword or a one-letter word.

    A dict (not a function) so that a text's words are looked up by ``map`` at C speed; a miss asks
    the stemmer (and is kept while there is room).
    """

    def __missing__(self, w: str | bytes) -> str | None:
        s = w.decode() if isinstance(w, bytes) else w
        t = None if len(s) < 2 or s in _stopwords() else _stemmer().stemWord(s)
        if len(self) < 500_000:
            self[w] = t
        return t


_TERMS = _Terms()
_is_term = partial(is_not, None)


def tokenize(text: str) -> list[str]:
    """Stemmed content words of ``text``, stopwords removed, in order."""
    return list(filter(_is_term, map(_TERMS.__getitem__, words(text))))


def tokenize_spans(text: str, spans: list[tuple[int, int]]) -> list[list[str]]:
    """``[tokenize(text[a:b]) for a, b in spans]``, with the words split as by :func:`all_words`
    (an ASCII text is translated once, and its spans sliced as bytes)."""
    term = _TERMS.__getitem__
    if text.isascii():
        low = text.encode().translate(_ASCII_WORDS)
        return [list(filter(_is_term, map(term, low[a:b].split()))) for a, b in spans]
    return [list(filter(_is_term, map(term, all_words(text[a:b])))) for a, b in spans]


def tokenize_many(texts: list[str]) -> list[list[str]]:
    return [tokenize(t) for t in texts]
