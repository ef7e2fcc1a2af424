"""`rag eval` on a conversational set: which answer each earlier turn showed, and the four variants."""

import json

from rag.evaluation.followups import evaluate_followups, format_followups, load_turns


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _conversations(tmp_path):
    d = tmp_path / "conv"
    d.mkdir()
    _write(d / "corpus.jsonl", [
        {"_id": "r1", "title": "", "text": "The Kurds are an ethnic group living in the mountains of the Middle East."},
        {"_id": "r2", "title": "", "text": "The prime minister of the Kurds sits in Erbil."},
        {"_id": "r3", "title": "", "text": "Sourdough bread rises because wild yeast ferments the dough."},
        {"_id": "r4", "title": "", "text": "A sourdough starter needs fresh flour and water every day."},
    ])
    q1, q2, q3 = "Who are the Kurds?", "What about their prime minister?", "What does it want?"
    b1 = "Why does sourdough rise?"
    _write(d / "conversations.jsonl", [
        {"topic": 1, "turn": "1-1", "question": q1, "history": [], "rewrite": q1, "gold": "r1"},
        {"topic": 1, "turn": "1-2", "question": "Hm.", "history": [q1], "rewrite": "Hm.", "gold": None},
        {"topic": 1, "turn": "1-3", "question": q2, "history": [q1, "Hm."], "rewrite": "What about the prime minister of the Kurds?", "gold": "r2"},
        {"topic": 2, "turn": "1-1", "question": b1, "history": [], "rewrite": b1, "gold": "r3"},
        {"topic": 2, "turn": "1-3", "question": q3, "history": [b1], "rewrite": "What does a sourdough starter want?",
         "gold": "r4"},
        # the same first turn repeated in a second branch of topic 2: counted once
        {"topic": 2, "turn": "2-1", "question": b1, "history": [], "rewrite": b1, "gold": "r3"},
    ])
    return d


def test_each_turn_knows_the_answer_each_earlier_turn_showed(tmp_path):
    turns = {(t.topic, t.question): t for t in load_turns(_conversations(tmp_path))}
    assert len(turns) == 4  # the turn without a gold passage and the repeated first turn are not searched
    assert turns[("1", "What about their prime minister?")].shown == ("r1", None)  # "Hm." had no answer passage
    assert turns[("2", "What does it want?")].shown == ("r3",)
    assert turns[("1", "Who are the Kurds?")].shown == ()


def test_eval_reports_history_with_and_without_the_answers_shown(tmp_path, fake_encoder):
    res = evaluate_followups(_conversations(tmp_path), mode="bm25", k=1, index=tmp_path / "index", encoder=fake_encoder)
    row = res["halves"]["all"]["follow-up"]
    assert row["turns"] == 2
    assert set(row) >= {"recall@1 raw", "recall@1 history", "recall@1 history+answers", "recall@1 rewrite"}
    assert row["recall@1 rewrite"] == 1.0  # the rewrites name their subject
    assert row["recall@1 raw"] < 1.0  # "What does it want?" alone names nothing in the corpus
    assert "gap closed with answers" in row
    text = format_followups(res)
    assert "+answers" in text and "follow-up" in text
