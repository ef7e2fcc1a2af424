"""Follow-up questions without a language model: when a question leans on earlier ones, and how
their context is carried into the search.

A question *depends* on the conversation when it has an earlier question and either refers back
(a pronoun or demonstrative such as "it", "they", "these"), opens elliptically ("what about ...",
"and ...", "why?"), or names too few things to be searched on its own (at most
``few_content_terms`` content words). A self-contained question is searched exactly as without
history: naive concatenation of earlier questions hurts those.

For a dependent question the context is carried two ways, both weighted by recency (the previous
question weighs most, each older one ``decay`` times less, so that unrelated turns long before
change nothing):

- BM25: the earlier questions' content terms are added to the query with weight
  ``term_weight`` x recency (the question's own terms weigh 1), at most ``max_terms`` of them, the
  rarest first, and together at most ``expansion_mass`` times the question's own terms.
- dense: the question's vector plus ``vector_weight`` x recency x each earlier question's vector,
  renormalized.

Context also comes from the passages that answered the earlier turns (the caller's answers, or the
top passage of each earlier question searched again): their most salient terms (tf x idf) join the
BM25 expansion with weight ``passage_term_weight`` x recency.

For the dense side, the recent questions and the question read as one text
(:func:`conversation_text`, ``concat_turns`` earlier ones) are encoded too and mixed in with weight
``concat_weight``: the encoder sees the pronoun next to what it stands for. When the caller gives
the answer it showed for the last earlier question, that text reads with them ("Why?" asks about
what the answer said); an answer the retriever only found again for itself does not, since it may
not be what the user saw.

A dependent question is then searched twice, alone and with its context, and the two rankings are
fused by reciprocal rank fusion, the context ranking with weight ``expanded_weight``. A question the
detector finds self-contained is searched exactly as without history.

A follow-up asks for something new: in the fused ranking, a passage that answered an earlier turn
is scored ``seen_factor`` times lower (a few places down), unless it has one of the question's own
words (:func:`mentions`: "Who leads them?" after the passage that names the leader).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.documents.tokens import query_terms


# Words that point back to something named earlier.
ANAPHORS = frozenset(
    """
    it its itself they them their theirs themselves he him his himself she her hers herself
    this these those that such former latter there thereof same another else both either neither
    """.split()
)
# "one" standing for something named before: "which one", "should I get one?" (not "one of", "one day").
_ONE = re.compile(r"\b(which|get|buy|choose|pick|another|that|this|the other|a good|a better|the best)\s+one\b|"
                  r"\bone\s*[?.!,]|\b(tell me more|more about (it|that|this|them)|a second|a third|the second|the third|"
                  r"the next|the last|the first one)\b", re.IGNORECASE)
# Openings that continue the previous question ("what about X", "and the second?", "why?").
_ELLIPSIS = re.compile(
    r"^\W*(what about|how about|and|also|but|so|why|why not|how so|what else|anything else|any other|"
    r"more|tell me more|what other|which other|other|compared|versus|vs\.?|in what way|how come)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z']+")
# "that"/"there"/"it" used without pointing back: "is there a cure", "the drug that cures", "is it
# true that": these do not count as anaphors.
_EXPLETIVE = re.compile(
    r"\b(is|are|was|were|will|would|could|can|be)\s+there\b|\b\w+\s+that\s+(is|are|was|were|has|have|had|can|could|"
    r"will|would|does|do|did|cause|causes|caused|make|makes)\b|\bit\s+(is|was)\s+(true|possible|safe|"
    r"necessary|important|better|worth|normal|bad|good|ok|okay)\b|\b(is|was)\s+it\s+(true|possible|safe|necessary|"
    r"important|better|worth|normal|bad|good|ok|okay)\b",
    re.IGNORECASE,
)

_THAT = re.compile(r"\b(true|possible|say|says|said|think|believe|know|claim|claims|mean|means|show|shows|shown|"
                   r"suggest|suggests|so|such)\s+that\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FollowUpSettings:
    """How follow-up questions are read and searched; the retriever holds one (``Retriever.followup``),
    benchmarks pass their own (``dataclasses.replace``)."""

    max_history: int = 8  # earlier questions looked at (the most recent ones)
    few_content_terms: int = 2  # a question with at most this many content terms leans on the context
    term_weight: float = 0.5  # BM25 weight of the previous question's terms (the question's own weigh 1)
    vector_weight: float = 0.3  # share of the previous question's vector in the dense query
    decay: float = 0.5  # each older question weighs this much of the next newer one
    max_terms: int = 10  # expansion terms at most
    passage_terms: int = 5  # salient terms taken from each earlier answer passage
    passage_term_weight: float = 0.3  # BM25 weight of an earlier answer's salient terms (x recency)
    # RRF weight of the context ranking for a dependent question (the question's own: 1, so that it
    # only breaks near-ties; weights 1-4 did worse: a dependent question's own ranking is mostly noise)
    expanded_weight: float = 100.0
    fusion_k: float = 60.0  # RRF constant for fusing the question's own ranking with the context ranking
    expansion_mass: float = 3.0  # the expansion terms together weigh at most this many of the question's own terms
    concat_weight: float = 0.6  # share in the dense query of the vector of the recent questions and this one as one text
    concat_turns: int = 2  # earlier questions (the most recent) in that text
    answer_chars: int = 1600  # characters of the last answer shown (given by the caller) read with the question; 0: none
    seen_keeps_own: bool = True  # a passage already shown that has one of the question's own content words is not demoted
    seen_factor: float = 0.9  # a dependent question's fused score of a passage that answered an earlier turn x this
    # A short question names something specific, and so stands alone ("Who is Andrei Klimov?"), when one
    # of its words is in the index and about as rare there as a word can be: its idf at least this share
    # of the largest (a word of one passage). Chosen on bench/devsets (seed: tune half).
    specific_idf_share: float = 0.5


DEFAULT_FOLLOWUP = FollowUpSettings()


@dataclass(frozen=True, slots=True)
class FollowUp:
    """How one question is searched in its conversation."""

    depends: bool  # does the question lean on the earlier ones?
    reason: str  # "anaphor", "ellipsis", "few words", or "" when self-contained
    terms: dict[str, float] = field(default_factory=dict)  # BM25 expansion: term -> weight
    history_weights: tuple[float, ...] = ()  # dense mixing weight of each earlier question (oldest first)


def dependence(question: str, history: Sequence[str], specific: Callable[[str], bool] | None = None,
               s: FollowUpSettings = DEFAULT_FOLLOWUP) -> str:
    """Why ``question`` depends on ``history`` ("anaphor", "ellipsis", "few words"), or "" if not.
    ``specific(term)``: whether a term names something specific in the documents (a short question
    with one stands alone); without it every short question leans on the conversation."""
    if not history:
        return ""
    text = _EXPLETIVE.sub(" ", _THAT.sub(r"\1", question))
    text = text.replace("\u2019", "'")
    words = [w.lower().strip("'").split("'")[0] for w in _WORD.findall(text) if not (len(w) >= 2 and w.isupper())]
    if any(w in ANAPHORS for w in words) or _ONE.search(text):
        return "anaphor"
    if _ELLIPSIS.match(question):
        return "ellipsis"
    own = set(query_terms(question))
    if len(own) <= s.few_content_terms and not (specific is not None and any(specific(t) for t in own)):
        return "few words"
    return ""


def recency_weights(n: int, s: FollowUpSettings = DEFAULT_FOLLOWUP) -> list[float]:
    """Weight of each of ``n`` earlier questions, oldest first: the newest 1, older ones decaying."""
    return [s.decay ** (n - 1 - i) for i in range(n)]


def plan(question: str, history: Sequence[str], idf: Callable[[str], float],
         specific: Callable[[str], bool] | None = None, s: FollowUpSettings = DEFAULT_FOLLOWUP) -> FollowUp:
    """The :class:`FollowUp` for ``question`` after ``history`` (cleaned, oldest first): whether it
    depends on it, and the context its search uses when it does."""
    if not history:
        return FollowUp(False, "")
    reason = dependence(question, history, specific, s)
    own = set(query_terms(question))
    rec = recency_weights(len(history), s)
    weights: dict[str, float] = {}
    for h, r in zip(history, rec):
        for t in set(query_terms(h)):
            if t not in own and idf(t) > 0:
                weights[t] = max(weights.get(t, 0.0), s.term_weight * r)
    best = sorted(weights, key=lambda t: (-weights[t] * idf(t), t))[: s.max_terms]
    total = sum(weights[t] for t in best)
    cap = s.expansion_mass * max(len(own), 1)
    scale = cap / total if total > cap else 1.0  # the context never outweighs the question itself
    return FollowUp(bool(reason), reason, {t: weights[t] * scale for t in best}, tuple(s.vector_weight * r for r in rec))


def mix_vector(qvec: np.ndarray, history_vecs: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """The question's vector with the earlier questions' mixed in by ``weights``, unit length."""
    v = np.asarray(qvec, dtype=np.float32).copy()
    if len(weights):
        v = v + np.asarray(weights, dtype=np.float32) @ np.asarray(history_vecs, dtype=np.float32)
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 0 else np.asarray(qvec, dtype=np.float32)


def passage_terms(texts: Sequence[list[str]], own: set[str], idf: Callable[[str], float],
                  recency: Sequence[float], s: FollowUpSettings = DEFAULT_FOLLOWUP) -> dict[str, float]:
    """BM25 expansion from earlier answers: each passage's (given as its terms) ``passage_terms``
    most salient terms (tf x idf) not among ``own``, weighted ``passage_term_weight`` x recency."""
    out: dict[str, float] = {}
    for terms, r in zip(texts, recency):
        tf: dict[str, int] = {}
        for t in terms:
            if t not in own:
                tf[t] = tf.get(t, 0) + 1
        sal = sorted(((n * idf(t), t) for t, n in tf.items() if idf(t) > 0), key=lambda x: (-x[0], x[1]))
        for _, t in sal[: s.passage_terms]:
            out[t] = max(out.get(t, 0.0), s.passage_term_weight * r)
    return out


def merge_terms(question_terms: dict[str, float], passage: dict[str, float], n_own: int,
                s: FollowUpSettings = DEFAULT_FOLLOWUP) -> dict[str, float]:
    """The expansion of both sources (the larger weight of a term), capped at ``expansion_mass``
    times the question's own terms in all."""
    out = dict(question_terms)
    for t, w in passage.items():
        out[t] = max(out.get(t, 0.0), w)
    total = sum(out.values())
    cap = s.expansion_mass * max(n_own, 1)
    return {t: w * cap / total for t, w in out.items()} if total > cap else out


def demote_seen(fused: dict[int, float], seen: Sequence[int | None],
                answers_own: Callable[[int], bool] = lambda row: False,
                s: FollowUpSettings = DEFAULT_FOLLOWUP) -> dict[int, float]:
    """``fused`` with the passages in ``seen`` (those that answered earlier turns) scored
    ``seen_factor`` times lower: a follow-up asks for something the conversation has not shown yet,
    unless the question's own words are in that passage (``answers_own(row)``: "Who leads them?"
    after a passage that names the leader)."""
    if s.seen_factor >= 1.0:
        return fused
    out = dict(fused)
    for row in set(r for r in seen if r is not None):
        if row in out and not (s.seen_keeps_own and answers_own(row)):
            out[row] *= s.seen_factor
    return out


def conversation_text(question: str, history: Sequence[str], answer: str = "",
                      s: FollowUpSettings = DEFAULT_FOLLOWUP) -> str:
    """The recent questions and ``question`` as one text (``concat_turns`` earlier ones), for the
    dense side of a dependent question: the encoder reads the pronoun next to what it stands for.

    ``answer``: the passage the caller showed as the answer to the last earlier question ("Why?"
    asks about what it says). Then the text is the question, the recent questions and the start of
    that answer (``answer_chars``), in that order, so that the encoder's length limit cuts the
    answer, never the question."""
    n = s.concat_turns
    recent = list(history[-n:]) if n > 0 else []
    if answer and s.answer_chars > 0:
        return " ".join([question, *recent, answer[: s.answer_chars]])
    return " ".join([*recent, question])


def mentions(own: Sequence[str], passage_terms: Sequence[str]) -> bool:
    """Does a passage (its terms) have one of the question's own terms, or a longer word built on
    one ("lead" in "leader", "leadership")?"""
    own = {t for t in own if len(t) >= 3}
    if not own:
        return False
    return any(w in own or any(w.startswith(t) for t in own) for w in set(passage_terms))
