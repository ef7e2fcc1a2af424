"""Compare follow-up settings (rag/search/followup.py) on a conversational set, per half of its topics
("even", "odd"; on CAsT 2022 both halves were read while the rules were written: development figures
only, held-out ones come from `rag eval bench/heldout/NAME`). With ``--answers gold`` the history-aware search also gets
the answer each earlier turn showed, its gold passage (the "+answers" column of `rag eval`); with
``--answers chat`` the answers the chat would have shown: each earlier question's own top hit,
searched in its conversation with the answers before it, or none where its confidence is below 0.5
("not in your documents"). The follow-ups stay CAsT's, written for the gold answers, so "chat" is a
pessimistic simulation.

    PYTHONPATH=. python bench/tune_followups.py ../shared/data/cast2022 --distractors ../shared/data/scifact \\
        --distractor-limit 1500

The index is the one `rag eval DATA --distractors ...` builds (run that first). Each setting re-runs
the history-aware searches only (question vectors are computed once). Prints recall@3 on follow-up
and self-contained turns for each half, and the share of the raw -> rewrite gap closed.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from pathlib import Path

import numpy as np

from rag.evaluation.followups import load_turns
from rag.search import followup
from rag.search.retriever import Retriever
from rag.search.verdict import found


def chat_answers(r, t, mode: str, chain: dict) -> list[str | None]:
    """The answers the chat would have shown before turn ``t``: each earlier question's top hit
    searched with its own conversation and the answers before it; None where it was not found."""
    out: list[str | None] = []
    for i, q in enumerate(t.history):
        key = (t.topic, t.history[: i + 1])
        if key not in chain:
            (hits,) = r.search_many([q], k=3, mode=mode, answers=False, histories=[list(t.history[:i])],
                                    history_answers=[list(out)])
            chain[key] = hits[0].text if hits and found(hits) else None
        out.append(chain[key])
    return out


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("--distractors")
    ap.add_argument("--distractor-limit", type=int)
    ap.add_argument("--mode", default="hybrid")
    ap.add_argument("--index")
    ap.add_argument("--fusion-depth", type=int, help="hybrid fusion candidates per side (default: the retriever's)")
    ap.add_argument("--grid", default="", help="name=v1,v2;name=v1 (fields of rag.search.followup.FollowUpSettings)")
    ap.add_argument("--answers", choices=("gold", "chat"),
                    help="also pass the answers shown: each earlier turn's gold passage, or the chat's own top hit")
    args = ap.parse_args()
    name = f"conv-{Path(args.data_dir).name}" + (f"+{Path(args.distractors).name}" if args.distractors else "")
    index = args.index or Path("indexes") / name
    r = Retriever.open(index, encoder=_Cached(Retriever.open(index).encoder()))
    if args.fusion_depth:
        r = r.with_settings(dataclasses.replace(r.settings, fusion=dataclasses.replace(r.settings.fusion,
                                                                                       depth=args.fusion_depth)))
    turns = [t for t in load_turns(Path(args.data_dir)) if t.history]
    base, shown = {}, {}
    text_of = {p.source: p.text for p in r.passages}
    for t in turns:
        (raw,), (rew,) = (r.search_many([q], k=3, mode=args.mode, answers=False) for q in (t.question, t.rewrite))
        shown[t] = [text_of.get(f"c:{g}") if g else None for g in t.shown] if args.answers == "gold" else None
        gold = f"c:{t.gold}"
        base[t] = (any(h.source == gold for h in raw), any(h.source == gold for h in rew))
    grid = {}
    for part in filter(None, args.grid.split(";")):
        k, v = part.split("=")
        kind = type(getattr(followup.DEFAULT_FOLLOWUP, k.strip()))  # an unknown name fails here, by name
        grid[k.strip()] = [kind(float(x)) if kind is not bool else x.strip().lower() in ("1", "true") for x in v.split(",")]
    for values in itertools.product(*grid.values()):
        setting = dataclasses.replace(followup.DEFAULT_FOLLOWUP, **dict(zip(grid, values)))
        tried = r.with_settings(dataclasses.replace(r.settings, followup=setting))
        stats: dict[tuple[str, str], list[int]] = {}
        chain: dict[tuple, str | None] = {}
        for t in turns:
            if args.answers == "chat":
                shown[t] = chat_answers(tried, t, args.mode, chain)
            (hist,) = tried.search_many([t.question], k=3, mode=args.mode, answers=False,
                                        histories=[list(t.history)], history_answers=[shown[t]])
            got = any(h.source == f"c:{t.gold}" for h in hist)
            for half in (t.half, "all"):
                s = stats.setdefault((half, t.group), [0, 0, 0, 0])
                s[0] += 1
                s[1] += base[t][0]
                s[2] += got
                s[3] += base[t][1]
        out = []
        for half in ("even", "odd", "all"):
            n, a, h, w = stats[(half, "follow-up")]
            sn, sa, sh, _ = stats.get((half, "self-contained"), [1, 0, 0, 0])
            out.append(f"{half} fu {a/n:.3f}/{h/n:.3f}/{w/n:.3f} closed {(h-a)/max(w-a,1):.2f} sc {sa/sn:.2f}->{sh/sn:.2f}")
        print(dict(zip(grid, values)), " | ".join(out), flush=True)


if __name__ == "__main__":
    main()
