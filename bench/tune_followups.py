"""Choose the follow-up settings (rag/search/followup.py) on the "tune" half of a conversational
set and show them on the "held" half.

    PYTHONPATH=. python bench/tune_followups.py ../shared/data/cast2022 --distractors ../shared/data/scifact \
        --distractor-limit 1500

The index is the one `rag eval DATA --distractors ...` builds (built here if missing). Each setting
re-runs the searches only. Prints recall@3 on follow-up and self-contained turns for each half.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from rag.evaluation.followups import evaluate_followups
from rag.search import followup
from rag.search.retriever import Retriever


class _Cached:
    """The query encoder, remembering each text's vector (the grid re-asks the same questions)."""

    def __init__(self, enc) -> None:
        self._enc, self._memo, self.info = enc, {}, enc.info

    def encode(self, texts):
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            self._memo.update(zip(missing, self._enc.encode(missing)))
        return np.stack([self._memo[t] for t in texts])

    def __getattr__(self, name):
        return getattr(self._enc, name)


_plain_encoder = Retriever.encoder
_cached: list[_Cached] = []


def _encoder(self):
    if not _cached:
        _cached.append(_Cached(_plain_encoder(self)))
    return _cached[0]


Retriever.encoder = _encoder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("--distractors")
    ap.add_argument("--distractor-limit", type=int)
    ap.add_argument("--mode", default="hybrid")
    args = ap.parse_args()
    grid = {  # a first, wider grid was cut short for time (shared CPUs); heavier weights did worse
        "TERM_WEIGHT": [0.3, 0.5],
        "VECTOR_WEIGHT": [0.3, 0.5],
        "EXPANSION_MASS": [3.0],
        "DECAY": [0.5],
        "FIRST_FLOOR": [1.0],
    }
    rows = []
    for values in itertools.product(*grid.values()):
        for name, v in zip(grid, values):
            setattr(followup, name, v)
        res = evaluate_followups(args.data_dir, args.distractors, args.distractor_limit, mode=args.mode)["halves"]
        f = {h: res[h]["follow-up"] for h in ("tune", "held")}
        s = {h: res[h].get("self-contained", {}) for h in ("tune", "held")}
        row = (f["tune"]["recall@3 history"], dict(zip(grid, values)),
               {h: (f[h]["recall@3 raw"], f[h]["recall@3 history"], f[h]["recall@3 rewrite"],
                    s[h].get("recall@3 raw"), s[h].get("recall@3 history")) for h in ("tune", "held")})
        rows.append(row)
        print(row, flush=True)
    rows.sort(key=lambda r: -r[0])
    print("best on tune:", rows[0])


if __name__ == "__main__":
    main()
