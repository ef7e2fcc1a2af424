"""Text analysis shared by indexing and searching: words, English stopwords, Snowball stems.

The BM25 index (:mod:`rag.index.lexical`), the answer sentence and the UI's highlighting all see the
same terms through :func:`tokenize`.
"""

from __future__ import annotations

import re
from functools import lru_cache, partial
from operator import is_not

import Stemmer

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


# Words a question is phrased with but that say nothing about what is sought: interrogatives,
# pronouns, auxiliaries, determiners, prepositions and conversational fillers ("tell me", "please").
# Dropped from questions only (passages keep the Lucene list above), so that "How many participants"
# searches for "participants". A word written in capitals in the question ("WHO", "US", "IT") is
# kept: it is a name or an acronym searched for in earnest.
QUERY_STOPWORDS = STOPWORDS_EN | frozenset(
    """
    about above after again against all also am any anybody anyone anything anyway anywhere because
    been before being below between both can cannot could couldn did didn do does doesn doing don done
    down during each either else even ever every few from further had hadn has hasn have haven having
    he her here hers herself him himself his how however i i'd i'm i've id im its itself just let lets
    many may me might mine more most much must my myself nor now of off once ones only other others
    ought our ours ourselves out over own per please quite rather really same shall shan she should
    shouldn so some somebody someone something somewhat still than thank thanks that's thats theirs them
    themselves there's therefore thing things those though through thus too under until up upon us very
    via vs was wasn we were weren what whatever when whenever where whereas wherever whether which while
    who whoever whom whose why would wouldn yes yet you your yours yourself yourselves
    tell explain describe know wondering wonder like would okay ok oh hi hello interesting
    """.split()
)


@lru_cache(maxsize=1)
def _stemmer():
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


def _term(w: str | bytes) -> str | None:
    """The stem of a word, or None for a stopword or a one-letter word."""
    s = w.decode() if isinstance(w, bytes) else w
    return None if len(s) < 2 or s in _stopwords() else _stemmer().stemWord(s)


class _Terms(dict[str | bytes, str | None]):
    """word (str, or ASCII bytes) -> :func:`_term`, for the words of documents.

    A dict (not a function) so that a text's words are looked up by ``map`` at C speed; a miss asks
    the stemmer (and is kept while there is room). Questions do not add to it (:func:`query_terms`):
    what a server keeps does not grow with the questions it is asked.
    """

    def __missing__(self, w: str | bytes) -> str | None:
        t = _term(w)
        if len(self) < 500_000:
            self[w] = t
        return t


_TERMS = _Terms()
_is_term = partial(is_not, None)


def tokenize(text: str) -> list[str]:
    """Stemmed content words of ``text``, stopwords removed, in order."""
    return list(filter(_is_term, map(_TERMS.__getitem__, words(text))))


def _query_word_ok(word: str) -> bool:
    return word.lower() not in QUERY_STOPWORDS or (len(word) >= 2 and word.isupper())


def query_terms(text: str) -> list[str]:
    """Stemmed search terms of a question: :func:`tokenize` without :data:`QUERY_STOPWORDS`
    (unless written in capitals, as "WHO" or "US"), in order."""
    kept = " ".join(w for w in TOKEN_RE.findall(text) if _query_word_ok(w))
    return [t for t in (_TERMS[w] if w in _TERMS else _term(w) for w in words(kept)) if t is not None]


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
