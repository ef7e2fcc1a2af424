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

# A sentence ends at . ! ? or … (possibly repeated), then optional closing quotes or brackets.
_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s|$)")
# What may start the next sentence: a capital, a digit, an opening quote or bracket.
_NEXT_START = re.compile(r"\s+[\"'“‘«(\[]*[A-Z0-9\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF]")


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at ``dot`` closes an abbreviation or an initial, not a sentence."""
    # The word before the dot: search back only to the previous whitespace (linear overall).
    start = dot
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start:dot].lstrip("\"'“‘«([").lower()
    if not word:
        return False
    if word in ABBREVIATIONS:
        return True
    # Initials such as "J." or "J.R." (one letter before the dot), but not a lone "I." ending.
    if len(word) == 1 and word.isalpha() and word != "i":
        return True
    if re.fullmatch(r"(?:[a-z]\.)+[a-z]", word):
        return True
    return False


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Split ``text`` into sentences; returns offsets ``[(start, end), ...]`` covering all non-space text."""
    spans: list[tuple[int, int]] = []
    n = len(text)
    start = 0
    while start < n and text[start].isspace():
        start += 1
    if start >= n:
        return spans
    for m in _END.finditer(text, start):
        end = m.end()
        if end <= start:
            continue
        if end < n:
            if _NEXT_START.match(text, end) is None:
                # "e.g. the" or "3.5 mg" or a lowercase continuation: not a boundary.
                continue
            if text[m.start()] == "." and m.end() - m.start() == 1 and _is_abbreviation(text, m.start()):
                continue
        spans.append((start, end))
        start = end
        while start < n and text[start].isspace():
            start += 1
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
