"""Questions the tests ask as ones their documents do not answer.

None of them is a question of the calibration bank (rag/data/offtopic_questions.txt) or a near copy
of one: the confidence model is fitted at build time with that bank as its negatives, so a test
asking a bank question would check the model on its own training examples and prove little.
tests/test_unanswerable_questions.py checks these constants, and every question written anywhere
in the tests, against the bank.
"""

from __future__ import annotations

# Not in the seed article (peace talks on Syria in Sochi), nor in any of the small test corpora.
ESPRESSO = "How do I descale an espresso machine?"
# For the abstention evaluation's out-of-corpus check (tests/test_abstention.py), with a duplicate.
OUT_OF_CORPUS = (ESPRESSO, "Which glue mends a broken ceramic mug?", ESPRESSO, "How do I renew a passport?")
# A question that names its own subject (the follow-up tests: it must not be read as a follow-up).
OWN_SUBJECT = "Oldest street of Reykjavik, population of Akureyri in 1820?"

ALL = (ESPRESSO, *OUT_OF_CORPUS, OWN_SUBJECT)
