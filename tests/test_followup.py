"""Follow-up questions (rag.search.followup) and question words (rag.documents.tokens.query_terms),
with the fake encoder."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rag.documents.tokens import query_terms, tokenize
from rag.errors import QuestionError
from rag.search import followup
from rag.search.followup import FollowUpSettings
from rag.search.query import clean_history


# ------------------------------------------------------------------ question words
def test_question_words_are_not_search_terms():
    assert query_terms("How many participants does the study have?") == tokenize("participants study")
    assert query_terms("What is it about, and who would know?") == []


@pytest.mark.parametrize("question,kept", [("WHO guidelines on masks", "who"), ("What does the US export?", "us"),
                                           ("Is the ALL party in power?", "all")])
def test_words_in_capitals_are_kept(question, kept):
    assert kept in query_terms(question)


def test_lower_case_who_is_a_question_word():
    assert query_terms("who wrote the guidelines") == tokenize("wrote guidelines")


# ------------------------------------------------------------------ dependence
@pytest.mark.parametrize("question,reason", [
    ("Who leads them?", "anaphor"),
    ("What are the effects of these changes?", "anaphor"),
    ("Where is its headquarters located in Europe today?", "anaphor"),
    ("What about the economic consequences for farmers in Brazil?", "ellipsis"),
    ("And what is the largest city of the country?", "ellipsis"),
    ("Why?", "ellipsis"),
    ("Any cheaper options?", "few words"),
    ("Woah. They\u2019re not all bad, right?", "anaphor"),  # a contraction with a typographic apostrophe
    ("Cool. Which one would you recommend for a student?", "anaphor"),
    ("Sounds yummy! Is there a third dish worth cooking?", "anaphor"),
    ("Are the last two the same?", "anaphor"),
])
def test_dependent_questions(question, reason):
    assert followup.dependence(question, ["Tell me about the Kurds in Syria"]) == reason


@pytest.mark.parametrize("question", [
    "What is the boiling point of water at high altitude?",
    "Is there a vaccine against malaria for children in Africa?",  # existential "there"
    "Which drug that is used for diabetes lowers blood glucose fastest?",  # relative "that"
    "Is it true that vitamin C prevents common colds in adults?",
    "What did the WHO guidelines say about masks in schools?",
    "When was the first vaccine against smallpox developed?",  # "the first" + a noun that is no list item
])
def test_self_contained_questions(question):
    assert followup.dependence(question, ["Tell me about the Kurds in Syria"]) == ""


def test_nothing_depends_without_history():
    assert followup.dependence("Who leads them?", []) == ""
    assert followup.plan("Who leads them?", [], lambda t: 1.0) == followup.FollowUp(False, "")


# ------------------------------------------------------------------ expansion
def test_expansion_weights_recent_questions_more_and_skips_own_terms():
    idf = {t: 2.0 for t in tokenize("volcano iceland eruption ash flights leads")}.get
    p = followup.plan("Who leads them?", ["Tell me about the volcano in Iceland", "Did the eruption ash stop flights?"],
                      lambda t: idf(t, 0.0))
    assert p.depends and p.reason == "anaphor"
    assert "lead" not in p.terms  # the question's own term keeps weight 1
    assert set(p.terms) == set(tokenize("volcano iceland eruption ash flights"))
    assert p.terms[tokenize("ash")[0]] >= p.terms[tokenize("volcano")[0]] > 0
    assert max(p.terms.values()) <= followup.DEFAULT_FOLLOWUP.term_weight
    assert len(p.history_weights) == 2 and p.history_weights[1] >= p.history_weights[0] > 0


def test_recency_weights_decay_with_age():
    w = followup.recency_weights(4)
    assert w[3] == 1.0 and w[3] > w[2] > w[1] > w[0] > 0
    assert w[0] == followup.DEFAULT_FOLLOWUP.decay ** 3  # the first question is one more of the older ones
    assert followup.recency_weights(0) == []


def test_expansion_skips_terms_absent_from_the_corpus_and_is_capped():
    many = " ".join(f"word{i}x" for i in range(30))
    p = followup.plan("And them?", [many], lambda t: 0.0 if t.startswith("word1") else 1.0)
    assert len(p.terms) == followup.DEFAULT_FOLLOWUP.max_terms
    assert not any(t.startswith("word1") for t in p.terms)


def test_mix_vector_leans_towards_history_and_stays_unit_length():
    q, h = np.array([1.0, 0.0], np.float32), np.array([[0.0, 1.0]], np.float32)
    v = followup.mix_vector(q, h, [0.5])
    assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-6
    assert v[1] > 0 and v[0] > v[1]
    assert np.allclose(followup.mix_vector(q, h, []), q)


def test_history_must_be_a_list_of_text():
    with pytest.raises(QuestionError):
        clean_history("just one string", 8)
    with pytest.raises(QuestionError):
        clean_history(["ok", 3], 8)
    assert clean_history(["  ", "a\x00b"], 8) == ["a b"]


# ------------------------------------------------------------------ retriever
def tuned(r, **followup_settings):
    """``r`` searching with other follow-up settings."""
    return r.with_settings(replace(r.settings, followup=replace(r.settings.followup, **followup_settings)))


@pytest.fixture
def topics(tmp_path, fake_encoder):
    from rag import build_index
    from rag.search.retriever import Retriever

    d = tmp_path / "seeds"
    d.mkdir()
    (d / "volcano.txt").write_text(
        "The Icelandic volcano erupted in spring.\n\nThe volcano is monitored by the Icelandic Met Office, "
        "whose director leads the team.\n", encoding="utf-8")
    (d / "football.txt").write_text(
        "The football club won the league.\n\nA coach leads the club.\n", encoding="utf-8")
    (d / "bread.txt").write_text("Bread rises because yeast makes gas.\n", encoding="utf-8")
    build_index(d, tmp_path / "index", encoder=fake_encoder)
    return Retriever.open(tmp_path / "index", encoder=fake_encoder)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_follow_up_is_searched_with_its_history(topics, mode):
    def director(hits):
        return next((i, h.dense_score) for i, h in enumerate(hits) if "director" in h.text)

    alone = topics.search("Who leads them?", k=5, mode=mode)
    # (the earlier question's own answer is another passage: one already shown is pushed down)
    after = topics.search("Who leads them?", k=5, mode=mode, history=["When did the Icelandic volcano erupt?"])
    if mode == "dense":  # the fake encoder's dense side moves it closer, not to the top
        assert director(after)[1] > director(alone)[1] + 0.1
    else:
        assert director(after)[0] == 0 < director(alone)[0]
        assert "volcano" in " ".join(after[0].terms) or "icelandic" in " ".join(after[0].terms)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_self_contained_question_ignores_history(topics, mode):
    q = "Which football club won the league in spring?"
    alone = topics.search(q, k=3, mode=mode)
    after = topics.search(q, k=3, mode=mode, history=["Is the Icelandic volcano monitored?"])
    assert [(h.row, h.score) for h in after] == [(h.row, h.score) for h in alone]


def test_how_is_not_a_match(topics):
    hits = topics.search("How does bread rise?", k=3, mode="bm25")
    assert [h.source for h in hits] == ["bread.txt"]
    assert "how" not in hits[0].terms


def test_who_in_capitals_matches_and_is_highlighted(tmp_path, fake_encoder):
    from rag import build_index
    from rag.search.retriever import Retriever
    from tui.highlight import marks_for

    d = tmp_path / "seeds"
    d.mkdir()
    (d / "health.txt").write_text("The WHO guidelines recommend masks.\n\nHow the vaccine works is explained here.\n",
                                  encoding="utf-8")
    (d / "other.txt").write_text("Who knows how bread rises.\n", encoding="utf-8")
    build_index(d, tmp_path / "index", encoder=fake_encoder)
    r = Retriever.open(tmp_path / "index", encoder=fake_encoder)
    hits = r.search("WHO masks", k=3, mode="bm25")
    assert hits[0].text.startswith("The WHO guidelines") and "who" in hits[0].terms
    hits = r.search("How does the vaccine work?", k=3, mode="bm25")
    assert [h.text for h in hits] == ["How the vaccine works is explained here."]
    marked = [hits[0].text[a:b] for a, b in marks_for(hits[0]).words]
    assert marked == ["vaccine", "works"]  # not "How"


# ------------------------------------------------------------------ context ranking weight and earlier answers
def test_passage_terms_are_the_salient_new_terms_weighted_by_recency():
    idf = {"volcano": 3.0, "ash": 2.0, "erupt": 1.0, "icelandic": 2.5, "leads": 1.0}
    older, newer = ["volcano", "volcano", "erupt", "leads"], ["ash", "icelandic"]
    out = followup.passage_terms([older, newer], {"leads"}, lambda t: idf.get(t, 0.0), [0.5, 1.0])
    assert "leads" not in out  # the question's own term
    assert out["ash"] == out["icelandic"] == followup.DEFAULT_FOLLOWUP.passage_term_weight
    assert out["volcano"] == followup.DEFAULT_FOLLOWUP.passage_term_weight * 0.5
    assert followup.passage_terms([["x"] * 3], set(), lambda t: 0.0, [1.0]) == {}  # absent from the corpus


def test_merged_expansion_keeps_the_larger_weight_and_is_capped():
    out = followup.merge_terms({"a": 0.5, "b": 0.2}, {"b": 0.4, "c": 0.3}, n_own=5)
    assert out == {"a": 0.5, "b": 0.4, "c": 0.3}
    capped = followup.merge_terms({f"t{i}": 1.0 for i in range(20)}, {}, n_own=1)
    assert abs(sum(capped.values()) - followup.DEFAULT_FOLLOWUP.expansion_mass) < 1e-9


def test_earlier_answer_carries_what_the_question_points_to(topics, monkeypatch):
    # neither passage says "appoints": what "them" are comes from the answer to the earlier question
    topics = tuned(topics, seen_factor=1.0)  # here the passage already shown is the answer again
    q, history = "Who appoints them?", ["Who leads the team?"]
    assert topics.search(q, k=3, mode="bm25") == []
    searched_again = topics.search(q, k=3, mode="bm25", history=history)
    assert "director" in searched_again[0].text  # the earlier question's best passage stands for its answer
    given = topics.search(q, k=3, mode="bm25", history=history, history_answers=["A coach leads the football club."])
    assert given[0].text == "A coach leads the club."
    assert "coach" in given[0].terms


def test_earlier_answers_must_match_the_history(topics):
    with pytest.raises(QuestionError):
        topics.search("Who leads them?", history=["a", "b"], history_answers=["only one"])
    with pytest.raises(QuestionError):
        topics.search("Who leads them?", history=["a"], history_answers="not a list")


def test_conversation_text_reads_the_recent_questions_before_the_question():
    two = FollowUpSettings(concat_turns=2)
    assert followup.conversation_text("Who leads them?", ["a", "Tell me about the Kurds", "Where do they live?"], s=two) == \
        "Tell me about the Kurds Where do they live? Who leads them?"
    assert followup.conversation_text("Who leads them?", ["Tell me about the Kurds"], s=two) == \
        "Tell me about the Kurds Who leads them?"
    assert followup.conversation_text("Who leads them?", ["Tell me about the Kurds"],
                                      s=FollowUpSettings(concat_turns=0)) == "Who leads them?"


def encoded_texts(retriever, monkeypatch) -> list[str]:
    """The texts ``retriever``'s encoder is asked to encode from now on (a list that fills as it runs)."""
    enc = retriever.encoder()
    seen: list[str] = []
    real = enc.encode

    def spy(texts):
        seen.extend(texts)
        return real(texts)

    monkeypatch.setattr(enc, "encode", spy)
    return seen


def test_dependent_dense_query_reads_the_conversation_as_one_text(topics, monkeypatch):
    seen = encoded_texts(topics, monkeypatch)
    history = ["Is the Icelandic volcano monitored?"]
    topics.search("Who leads them?", k=3, mode="dense", history=history)
    assert "Is the Icelandic volcano monitored? Who leads them?" in seen
    seen.clear()
    topics.search("Which football club won the league in spring?", k=3, mode="dense", history=history)
    assert not any("volcano" in t for t in seen)  # a self-contained question never encodes its history
    topics = tuned(topics, concat_weight=0.0)
    seen.clear()
    topics.search("Who leads them?", k=3, mode="dense", history=history)
    # the search no longer reads them as one text; the confidence still judges the follow-up that way
    assert seen.count("Is the Icelandic volcano monitored? Who leads them?") == 1


def test_a_follow_ups_confidence_does_not_depend_on_the_conversations_length(topics):
    """Judged as if asked right after the question it follows: unrelated turns before it change nothing."""
    last = "Is the Icelandic volcano monitored?"
    short = topics.search("Who leads them?", k=3, history=[last])
    unrelated = ["Which football club won the league in spring?", "How is bread made?", "What do cats eat?"] * 3
    long = topics.search("Who leads them?", k=3, history=[*unrelated, last])
    conf = {h.row: h.confidence for h in short}
    for h in long:
        if h.row in conf:
            assert h.confidence == pytest.approx(conf[h.row], abs=1e-6)
    assert max(h.confidence for h in long) == pytest.approx(max(h.confidence for h in short), abs=1e-6)


def test_a_short_question_that_names_something_specific_stands_alone(topics):
    history = ["Is the Icelandic volcano monitored?"]
    rare = next(t for t in ("icelandic", "volcano", "football") if topics.view.stats.specific(t))
    assert topics.follow_up(f"Who is {rare}?", history).reason == ""
    assert topics.follow_up("Who is zanzibar?", history).reason == "few words"  # not in the documents: leans on it


def test_demote_seen_lowers_only_the_passages_already_shown():
    fused = {1: 1.0, 2: 0.9, 3: 0.5}
    half = FollowUpSettings(seen_factor=0.5)
    assert followup.demote_seen(fused, [1, None], s=half) == {1: 0.5, 2: 0.9, 3: 0.5}
    assert fused == {1: 1.0, 2: 0.9, 3: 0.5}  # not changed in place
    assert followup.demote_seen(fused, [1, 2], answers_own=lambda row: row == 1, s=half) == {1: 1.0, 2: 0.45, 3: 0.5}
    assert followup.demote_seen(fused, [1, 2], s=FollowUpSettings(seen_factor=1.0)) == fused


def test_mentions_matches_own_terms_and_words_built_on_them():
    assert followup.mentions(["lead"], ["the", "kurdish", "leader"])
    assert followup.mentions(["coral"], ["coral", "reef"])
    assert not followup.mentions(["lead"], ["kurdish", "parti"])
    assert not followup.mentions(["us"], ["usual"])  # too short to stand for a longer word
    assert not followup.mentions([], ["anything"])


def test_follow_up_prefers_a_passage_the_conversation_has_not_shown(topics, monkeypatch):
    # "Who leads it?" after "Which club won the league?": the passage that answered the earlier
    # question ("The football club won the league.") is pushed below the new one once seen counts
    q, history = "What about the coach?", ["Which football club won the league?"]
    earlier = topics.search(history[0], k=1, mode="bm25")[0]
    topics = tuned(topics, seen_factor=1.0)
    kept = [h.row for h in topics.search(q, k=5, mode="bm25", history=history)]
    topics = tuned(topics, seen_factor=0.01)
    demoted = [h.row for h in topics.search(q, k=5, mode="bm25", history=history)]
    assert earlier.row in kept and earlier.row in demoted
    assert demoted.index(earlier.row) > kept.index(earlier.row)


# ------------------------------------------------------------------ the answers the caller showed
def test_conversation_text_with_the_answer_shown_puts_the_question_first(monkeypatch):
    s = FollowUpSettings(concat_turns=1, answer_chars=12)
    text = followup.conversation_text("Why?", ["Old question", "Did Trump leave the accord?"], "Trump said he would leave.", s)
    assert text == "Why? Did Trump leave the accord? Trump said h"  # the answer is what a length limit cuts
    assert followup.conversation_text("Why?", ["Did Trump leave the accord?"], "Trump said.",
                                      replace(s, answer_chars=0)) == "Did Trump leave the accord? Why?"


def test_the_answer_shown_is_read_with_the_question_but_one_found_again_is_not(topics, monkeypatch):
    seen = encoded_texts(topics, monkeypatch)
    history = ["Is the Icelandic volcano monitored?"]
    shown = "The volcano is monitored by the Icelandic Met Office, whose director leads the team."
    topics.search("Who leads them?", k=3, mode="dense", history=history, history_answers=[shown])
    assert f"Who leads them? {history[0]} {shown}" in seen
    seen.clear()
    topics.search("Who leads them?", k=3, mode="dense", history=history)  # its answer is only found again
    assert not any(shown in t for t in seen)
    assert f"{history[0]} Who leads them?" in seen


def test_an_answer_shown_that_is_a_passage_here_counts_as_seen(topics, monkeypatch):
    q, history = "What about the coach?", ["Which football club won the league?"]
    shown = "The football club won the league."  # a passage of the index, word for word
    topics = tuned(topics, seen_factor=1.0)
    kept = [h.text for h in topics.search(q, k=5, mode="bm25", history=history, history_answers=[shown])]
    topics = tuned(topics, seen_factor=0.01)
    demoted = [h.text for h in topics.search(q, k=5, mode="bm25", history=history, history_answers=[shown])]
    assert shown in kept and shown in demoted
    assert demoted.index(shown) > kept.index(shown)
    # an answer from elsewhere (not a passage here) demotes nothing, even when it is close to one
    other = [h.text for h in topics.search(q, k=5, mode="bm25", history=history,
                                          history_answers=["The football club won the league!"])]
    topics = tuned(topics, seen_factor=1.0)
    other_kept = [h.text for h in topics.search(q, k=5, mode="bm25", history=history,
                                               history_answers=["The football club won the league!"])]
    assert other == other_kept


def test_a_bare_why_asks_about_the_answer_just_shown(topics, monkeypatch):
    """"Why?" has no word of its own: the answer just shown is what it asks about, never demoted;
    an older answer still is."""
    history = ["Which football club won the league?"]
    shown = "The football club won the league."
    topics = tuned(topics, seen_factor=1.0)
    kept = [h.text for h in topics.search("Why?", k=5, mode="bm25", history=history, history_answers=[shown])]
    topics = tuned(topics, seen_factor=0.01)
    why = [h.text for h in topics.search("Why?", k=5, mode="bm25", history=history, history_answers=[shown])]
    assert shown in kept and why == kept
    older = ["Which football club won the league?", "Why?"]
    again = [h.text for h in topics.search("Why?", k=5, mode="bm25", history=older, history_answers=[shown, None])]
    topics = tuned(topics, seen_factor=1.0)
    again_kept = [h.text for h in topics.search("Why?", k=5, mode="bm25", history=older, history_answers=[shown, None])]
    assert again.index(shown) > again_kept.index(shown)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_ten_unrelated_turns_before_change_nothing(topics, mode):
    """A follow-up after ten unrelated turns ranks and judges as after its own question alone."""
    last = "Is the Icelandic volcano monitored?"
    unrelated = ["Which football club won the league?", "How does bread rise?", "Does the coach lead the club?",
                 "Why does yeast make gas?", "Who won the football league?"] * 2
    short = topics.search("Who leads them?", k=3, mode=mode, history=[last])
    long = topics.search("Who leads them?", k=3, mode=mode, history=[*unrelated, last])
    assert "director" in short[0].text and long[0].row == short[0].row  # the answer, first both times
    assert long[0].confidence == pytest.approx(short[0].confidence, abs=1e-6)
    # below it only passages shown for the unrelated turns may move down (a follow-up asks for something new)
    seen = {h.row for q in unrelated for h in topics.search(q, k=1, mode=mode)}
    rank = {h.row: h.rank for h in long}
    assert all(h.row in rank and rank[h.row] <= h.rank for h in short if h.row not in seen)


@pytest.mark.parametrize("alone_better", [True, False])
def test_a_short_question_reads_the_way_the_documents_answer_better(topics, monkeypatch, alone_better):
    """ "few words" is a weak sign of a follow-up: the search keeps whichever reading (alone, or in the
    conversation) has the more confident best passage, and says which it kept."""
    from rag.search import pipeline

    q, history = "Who trains?", ["Is the Icelandic volcano monitored?"]  # "trains": in no passage
    assert followup.dependence(q, history) == "few words"
    judged = []

    def best(view, reading):
        judged.append(reading.plan.depends)
        return 1.0 if reading.plan.depends != alone_better else 0.0

    monkeypatch.setattr(pipeline, "_best", best)
    got = topics.ask(q, k=3, history=history)
    assert sorted(judged) == [False, True]
    assert got.follow_up.depends is (not alone_better)
    alone = topics.ask(q, k=3)
    if alone_better:
        assert [h.row for h in got.hits] == [h.row for h in alone.hits]
        assert [h.confidence for h in got.hits] == [h.confidence for h in alone.hits]
    else:
        assert got.follow_up.reason == "few words"
