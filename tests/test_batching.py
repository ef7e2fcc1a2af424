"""A build's batches (issue 26): passages longest first, cut so that rows x the longest row stay within
the token budget (one text alone at least), every text once, in order."""

from __future__ import annotations

import random

import pytest

from rag.embedding.onnx_session import _batches


@pytest.mark.parametrize("seed", range(20))
def test_batches_keep_the_budget_and_every_text_once_in_order(seed: int) -> None:
    rng = random.Random(seed)
    lengths = [rng.choice([3, 12, 40, 90, 256]) + rng.randint(0, 9) for _ in range(rng.randint(1, 400))]
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    budget, rows = rng.choice([64, 256, 768, 4096]), rng.choice([1, 8, 64])
    got = _batches(order, lengths, budget, rows)
    assert [j for b in got for j in b] == order
    for b in got:
        assert 1 <= len(b) <= rows
        assert len(b) == 1 or len(b) * lengths[b[0]] <= budget
    for b in got[:-1]:  # a batch ends only where the next text would break a limit
        assert len(b) == rows or (len(b) + 1) * lengths[b[0]] > budget
