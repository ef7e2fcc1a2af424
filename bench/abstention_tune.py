"""Choose the confidence calibrator's general settings on SciFact TRAIN (rag.indexing.calibration.FitSettings:
the shrinkage l2 and the weight of each kind of label-free negative).

For each check of ``rag eval --abstention`` (removed gold; out of corpus with CAsT 2022 rewrites),
the label-free calibration set of the calibrated copy and the features of every evaluation
question's hits are computed once; each candidate setting is then a refit and a rescoring (cheap).

    PYTHONPATH=$PWD nice python bench/abstention_tune.py /work/shared/data/scifact \
        --index /work/cache/scifact-index --ood /work/shared/data/cast2022/conversations.jsonl --split train
"""

from __future__ import annotations

import argparse
import itertools
import json

import numpy as np

from harness import with_calibration
from rag.evaluation.abstention import evaluate_abstention, summary
from rag.indexing.calibration import DEFAULT_SETTINGS, FitSettings, calibration_set, fit_calibration

SHARES = [(("left-out", 0.2), ("bank", 0.2), ("shuffled", 0.1)),
          (("left-out", 0.05), ("bank", 0.35), ("shuffled", 0.1)),
          (("left-out", 0.0), ("bank", 0.4), ("shuffled", 0.1)),
          (("left-out", 0.4), ("bank", 0.1), ("shuffled", 0.0)),
          (("left-out", 0.1), ("bank", 0.3), ("shuffled", 0.1)),
          (("left-out", 0.3), ("bank", 0.2), ("shuffled", 0.0))]
L2 = (1.0, 5.0, 20.0, 80.0)


class _Recorder:
    """Stands in for a retriever's calibration: keeps the feature rows it is asked to score."""

    def __init__(self):
        self.rows: list[np.ndarray] = []

    def probability(self, x):
        self.rows.append(np.atleast_2d(x).copy())
        return np.zeros(len(self.rows[-1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("--index", required=True)
    ap.add_argument("--ood", required=True)
    ap.add_argument("--split", default="train")
    ap.add_argument("--mode", default="hybrid")
    ap.add_argument("--limit", type=int, default=0, help="evaluation questions per check and label (0: all)")
    args = ap.parse_args()
    data: dict = {}

    def collect(check, mode, r, questions, labels):
        if args.limit:
            pos = [i for i, y in enumerate(labels) if y][: args.limit]
            neg = [i for i, y in enumerate(labels) if not y][: args.limit]
            keep = pos + neg
            questions, labels = [questions[i] for i in keep], [labels[i] for i in keep]
        rec = _Recorder()
        recording = with_calibration(r, rec)
        for q in questions:
            recording.search(q, k=10, mode=mode, answers=False)
        data[check] = (calibration_set(r.index, r.encoder().encode), rec.rows, labels)

    evaluate_abstention(args.data_dir, args.split, (args.mode,), index=args.index, ood=args.ood, collect=collect)
    results = []
    for sh, l2 in itertools.product(SHARES, L2):
        st = FitSettings(l2=l2, negative_shares=sh)
        row = {"shares": sh, "l2": l2, "default": st == DEFAULT_SETTINGS}
        for check, (cs, rows, labels) in data.items():
            cal = fit_calibration(cs, st)
            conf = [float(cal.probability(x).max()) if len(x) else 0.0 for x in rows]
            row[check] = summary(conf, labels)
        row["score"] = sum(row[c]["auroc"] + row[c]["accuracy@0.5"] for c in data)
        results.append(row)
    results.sort(key=lambda r: -r["score"])
    for r in results[:12] + [r for r in results[12:] if r["default"]]:  # the best, and the default for reference
        print(json.dumps({k: (v if not isinstance(v, dict) else {m: v[m] for m in ("auroc", "accuracy@0.5", "ece")})
                          for k, v in r.items()}))


if __name__ == "__main__":
    main()
