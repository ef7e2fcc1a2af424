"""Sentence boundaries that respect abbreviations, initials, decimals and closing quotes.

:func:`sentence_spans` returns ``(start, end)`` character offsets into the text, so a sentence can
always be cited back to its exact place. Whitespace between sentences belongs to no sentence.
"""

from __future__ import annotations

import re

# Lower-cased words that end with a period without ending a sentence.
ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sr jr st mt ft vs etc al fig figs eq eqs no nos vol vols pp ed eds
    approx ca cf dept est inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec
    gen gov sen rep rev col lt sgt capt cmdr adm maj u.s e.g i.e a.m p.m ph.d u.k u.n
    resp ref refs sec suppl viz
    """.split()
)

# A sentence ends at . ! ? or … (possibly repeated), then optional closing quotes or brackets, at
# the end of the text or before whitespace and what may start the next sentence: a capital, a
# digit, an opening quote or bracket. Group 1 is that whitespace (where the next sentence starts).
_END = re.compile(
    r"[.!?…]+[\"'”’»)\]]*(?=(\s+)[\"'“‘«(\[]*[A-Z0-9\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF]|\Z)"
)
_INITIALS = re.compile(r"(?:[a-z]\.)+[a-z]")
_WORD_WINDOW = 64  # how far back the word before a period is looked for at first


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at ``dot`` closes an abbreviation or an initial, not a sentence."""
    # The word before the dot runs back to the previous whitespace: split a window of the text
    # (C speed) rather than stepping back a character at a time, unless the word fills the window.
    lo = max(0, dot - _WORD_WINDOW)
    window = text[lo:dot]
    if not window or window[-1].isspace():
        return False
    word = window.rsplit(None, 1)[-1]
    if lo > 0 and len(word) == len(window):
        start = lo
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        word = text[start:dot]
    word = word.lstrip("\"'“‘«([").lower()
    if not word:
        return False
    if word in ABBREVIATIONS:
        return True
    # Initials such as "J." or "J.R." (one letter before the dot), but not a lone "I." ending.
    if len(word) == 1 and word.isalpha() and word != "i":
        return True
    if _INITIALS.fullmatch(word):
        return True
    return False


def _marks(text: str, start: int) -> list[int]:
    """Offsets of . ! ? and … from ``start``, in order: the only places a sentence can end.

    ``str.find`` skips to them many times faster than the regex engine scans a character at a time.
    """
    out: list[int] = []
    for ch in ".!?…":
        i = text.find(ch, start)
        while i >= 0:
            out.append(i)
            i = text.find(ch, i + 1)
    out.sort()
    return out


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Split ``text`` into sentences; returns offsets ``[(start, end), ...]`` covering all non-space text."""
    spans: list[tuple[int, int]] = []
    n = len(text)
    start = 0
    while start < n and text[start].isspace():
        start += 1
    if start >= n:
        return spans
    scanned = start  # where a regex scan (finditer) would go on looking for the next end
    for dot in _marks(text, start):
        if dot < scanned:
            continue
        m = _END.match(text, dot)
        if m is None:
            continue
        end = scanned = m.end()
        if end < n and end - dot == 1 and text[dot] == "." and _is_abbreviation(text, dot):
            continue  # "Dr. Smith", "J. R. Tolkien"; "e.g. the" or "3.5 mg" never matched
        spans.append((start, end))
        start = m.end(1) if end < n else n
        if start >= n:
            break
    if start < n:
        end = n
        while end > start and text[end - 1].isspace():
            end -= 1
        spans.append((start, end))
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` as strings."""
    return [text[a:b] for a, b in sentence_spans(text)]
