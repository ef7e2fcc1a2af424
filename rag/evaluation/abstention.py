"""``rag eval --abstention``: does the best hit's confidence tell answerable questions from the rest?

Two checks on a BEIR-layout data set with claims and their gold documents (SciFact):

- **removed gold**: the claims of the split are halved at random (seeded); the gold documents of one
  half are deleted from a copy of the index through the backend, and the copy is calibrated again
  as a user's build would (:func:`rag.indexing.commit.calibrate_staged`). The kept half is answerable,
  the other half asks about what the corpus no longer holds (claims that share a gold document with
  the other half are left out, so that each label is clean).
- **out of corpus** (with ``ood``: a file of questions on other topics, e.g. the manual rewrites of
  TREC CAsT 2022): the claims against the whole corpus, as many of those questions as negatives.

For each mode: AUROC of the best hit's confidence (the maximum over the hits, which is what
:func:`rag.search.verdict.found` thresholds), accuracy of the 0.5 threshold, and the expected
calibration error (10 bins).
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from rag.errors import DataError
from rag.evaluation import beir
from rag.evaluation.metrics import accuracy_at, auroc, expected_calibration_error, oracle_accuracy
from rag.evaluation.report import run_and_print
from rag.index.local import LocalIndex
from rag.index.passages_io import source_prefix
from rag.indexing.build import build_passages
from rag.indexing.commit import calibrate_staged
from rag.indexing.manifest import model_info_for
from rag.search.retriever import Retriever

DEPTH = 10  # hits per question whose best confidence counts


@dataclass(frozen=True, slots=True)
class RemovalSplit:
    answerable: list[str]  # claim ids whose gold documents stay
    absent: list[str]  # claim ids whose gold documents are removed
    removed: list[str]  # the removed documents (sorted)


def split_claims(qrels: dict[str, dict[str, int]], seed: int = 0) -> RemovalSplit:
    """Halve the judged claims at random; remove every gold document of one half. A claim of the
    kept half that shares a gold document with the removed half is dropped (its label would be muddy)."""
    qids = sorted(q for q, rel in qrels.items() if any(r > 0 for r in rel.values()))
    random.Random(seed).shuffle(qids)
    half = len(qids) // 2
    absent = sorted(qids[:half])
    removed = sorted({d for q in absent for d, r in qrels[q].items() if r > 0})
    gone = set(removed)
    answerable = sorted(q for q in qids[half:] if not any(r > 0 and d in gone for d, r in qrels[q].items()))
    return RemovalSplit(answerable, absent, removed)


def remove_and_recalibrate(src: str | Path, dst: str | Path, sources: list[str], encoder=None) -> int:
    """Copy the index at ``src`` to ``dst`` (replacing it), delete every passage of ``sources``
    through the backend, fit the confidence model on the result and publish it as one version.
    Returns the passages left."""

    src, dst = Path(src), Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))
    with LocalIndex.open(dst, writable=True) as w:
        for s in sources:
            w.delete(w.keys_with_prefix(source_prefix(s)))
        view = w.staged()
        try:
            left = view.count()
        finally:
            view.close()
        meta = w.meta
        w.set_meta({**meta, "counts": {**meta.get("counts", {}), "passages": left}, "removed_sources": len(sources)})
        info = model_info_for(encoder, None, w.meta)
        calibrate_staged(w, info, encoder)
        w.commit()
        return left


def ood_questions(path: str | Path) -> list[str]:
    """Distinct questions from a JSON-lines file: each line's ``rewrite``, else ``text`` or ``question``."""
    out: dict[str, None] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read out-of-corpus questions {path} ({exc.strerror})") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except ValueError:
            raise DataError(f"{path} line {n} is not JSON") from None
        q = d.get("rewrite") or d.get("text") or d.get("question")
        if isinstance(q, str) and q.strip():
            out[q.strip()] = None
    return list(out)


def best_confidences(retriever, questions: list[str], mode: str, k: int = DEPTH) -> tuple[list[float], list[float]]:
    """For each question, the best hit's confidence (0 when nothing matches) and the best raw cosine
    among the hits (the baseline the confidence is compared with; None in bm25 mode)."""
    conf, cos = [], []
    for q in questions:
        hits = retriever.search(q, k=k, mode=mode, answers=False)
        conf.append(max((h.confidence or 0.0 for h in hits), default=0.0))
        cos.append(max((h.dense_score for h in hits if h.dense_score is not None), default=None))
    return conf, cos


def summary(conf: list[float], labels: list[bool], cosines: list[float | None] | None = None) -> dict:
    pos = [c for c, y in zip(conf, labels) if y]
    neg = [c for c, y in zip(conf, labels) if not y]
    raw = {}
    if cosines is not None and all(c is not None for c in cosines):
        # the baseline of the issue: the top hit's raw cosine, with the best threshold the labels allow
        raw = {"raw_cosine_auroc": round(auroc(cosines, labels), 4),
               "raw_cosine_oracle_accuracy": round(oracle_accuracy(cosines, labels), 4)}
    return {
        **raw,
        "auroc": round(auroc(conf, labels), 4),
        "accuracy@0.5": round(accuracy_at(conf, labels, 0.5), 4),
        "ece": round(expected_calibration_error(conf, labels, 10), 4),
        "answerable": len(pos),
        "unanswerable": len(neg),
        "found_rate_answerable": round(sum(c >= 0.5 for c in pos) / len(pos), 4),
        "found_rate_unanswerable": round(sum(c >= 0.5 for c in neg) / len(neg), 4),
    }


def evaluate_abstention(data_dir: str | Path, split: str = "test", modes=("hybrid",), index: str | Path | None = None,
                        ood: str | Path | None = None, work: str | Path | None = None, seed: int = 0,
                        encoder=None, progress=None, collect=None) -> dict:
    """Both checks (see the module's docstring). ``index``: where the whole corpus is (built or
    reused there); ``work``: where the two calibrated copies go (default: next to ``index``).
    ``collect(check, mode, retriever, questions, labels)``, if given, is called instead of scoring
    (tools that look at the features)."""

    ds = beir.load(data_dir, split)
    index_dir = Path(index) if index else Path("indexes") / f"beir-{ds.name}"
    build_passages(index_dir, ds.passages, {"corpus.jsonl": {"sha256": ds.corpus_sha256}}, progress=progress,
                   encoder=encoder)
    work = Path(work) if work else index_dir.parent / f"{index_dir.name}-abstention"
    work.mkdir(parents=True, exist_ok=True)
    sp = split_claims(ds.qrels, seed)
    out: dict = {"dataset": ds.name, "split": split, "seed": seed, "modes": list(modes), "checks": {}}
    checks = []
    removed_dir = work / f"removed-{split}-{seed}"
    left = remove_and_recalibrate(index_dir, removed_dir, sp.removed, encoder)
    qs = [ds.queries[q] for q in sp.answerable + sp.absent]
    checks.append(("removed_gold", removed_dir, qs, [True] * len(sp.answerable) + [False] * len(sp.absent),
                   {"corpus": left, "removed_documents": len(sp.removed)}))
    if ood is not None:
        whole_dir = work / "whole"
        n = remove_and_recalibrate(index_dir, whole_dir, [], encoder)
        pos = [ds.queries[q] for q in sorted(ds.queries)]
        neg = ood_questions(ood)
        m = min(len(pos), len(neg))
        rng = random.Random(seed)
        pos, neg = rng.sample(pos, m), rng.sample(neg, m)
        checks.append(("out_of_corpus", whole_dir, pos + neg, [True] * m + [False] * m,
                       {"corpus": n, "ood_source": Path(ood).name}))
    for name, idx, questions, labels, info in checks:
        r = Retriever.open(idx, encoder=encoder)
        res = {**info, "modes": {}}
        for mode in modes:
            if collect is not None:
                collect(name, mode, r, questions, labels)
                continue
            conf, cosines = best_confidences(r, questions, mode)
            res["modes"][mode] = summary(conf, labels, cosines)
        out["checks"][name] = res
    return out


def format_table(res: dict) -> str:
    lines = [f"abstention on {res['dataset']} ({res['split']}, seed {res['seed']}): best hit's confidence", "",
             f"{'check':<14} {'mode':<7} {'AUROC':>6} {'acc@0.5':>8} {'ECE':>6} {'found+':>7} {'found-':>7} {'n+':>4} {'n-':>4}"
             f"  {'raw cosine: AUROC':>17} {'best acc':>8}"]
    for name, c in res["checks"].items():
        for mode, m in c["modes"].items():
            lines.append(f"{name:<14} {mode:<7} {m['auroc']:>6.3f} {m['accuracy@0.5']:>8.3f} {m['ece']:>6.3f} "
                         f"{m['found_rate_answerable']:>7.3f} {m['found_rate_unanswerable']:>7.3f} "
                         f"{m['answerable']:>4} {m['unanswerable']:>4}"
                         + (f"  {m['raw_cosine_auroc']:>17.3f} {m['raw_cosine_oracle_accuracy']:>8.3f}"
                            if "raw_cosine_auroc" in m else ""))
    return "\n".join(lines)


def run_cli(args) -> int:

    modes = ("hybrid", "dense", "bm25") if args.mode == "all" else (args.mode,)
    return run_and_print(lambda bar: evaluate_abstention(args.data_dir, split=args.split, modes=modes, index=args.index,
                                                         ood=args.ood, progress=bar), args.json, format_table)
