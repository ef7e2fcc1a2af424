"""``rag eval``: retrieval quality and speed on a BEIR-layout data set.

The corpus is indexed through the same embed/publish path as seeds (one passage per record: title
and text), cached under ``indexes/`` and reused while the corpus and model are unchanged. Every
query is searched one at a time, so the per-query times are what a user waits for.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rag.documents.sentences import sentence_spans
from rag.evaluation import beir
from rag.evaluation.metrics import mrr_at, ndcg_at, percentile, recall_at
from rag.evaluation.report import run_and_print
from rag.indexing.build import build_passages
from rag.search.retriever import Retriever

ALL_MODES = ("dense", "bm25", "hybrid")


def evaluate(data_dir: str | Path, split: str = "test", modes=ALL_MODES, k: int = 100, index: str | Path | None = None,
             answers: bool = True, progress=None, encoder=None) -> dict:

    ds = beir.load(data_dir, split)
    index_dir = Path(index) if index else Path("indexes") / f"beir-{ds.name}"
    t0 = time.perf_counter()
    stats = build_passages(
        index_dir, ds.passages, {"corpus.jsonl": {"sha256": ds.corpus_sha256}}, progress=progress, encoder=encoder
    )
    index_seconds = time.perf_counter() - t0
    r = Retriever.open(index_dir, encoder=encoder)
    qids = sorted(ds.queries)
    r.search(ds.queries[qids[0]], k=1)  # load the query encoder before timing
    rationales = _rationales(ds.root, split)
    out = {
        "dataset": ds.name,
        "split": split,
        "queries": len(qids),
        "corpus": len(ds.passages),
        "index": str(index_dir),
        "index_seconds": round(index_seconds, 2),
        "index_reused": not stats.changed,
        "encoder": stats.encoder or r.manifest.get("encoder", ""),
        "modes": {},
    }
    for mode in modes:
        times, nd, r10, r100, mrr = [], [], [], [], []
        ans = {"pairs": 0, "hits": 0, "first": 0}
        for q in qids:
            t = time.perf_counter()
            hits = r.search(ds.queries[q], k=k, mode=mode, answers=False)
            if answers:
                r.add_answers(hits[:10], ds.queries[q])
            times.append((time.perf_counter() - t) * 1000)
            ranking = [h.source for h in hits]
            rel = ds.qrels[q]
            nd.append(ndcg_at(ranking, rel, 10))
            r10.append(recall_at(ranking, rel, 10))
            r100.append(recall_at(ranking, rel, 100))
            mrr.append(mrr_at(ranking, rel, 10))
            if answers and rationales:
                _score_answers(hits[:10], rationales.get(q, {}), ds, ans)
        n = len(qids)
        res = {
            "ndcg@10": round(sum(nd) / n, 4),
            "recall@10": round(sum(r10) / n, 4),
            "recall@100": round(sum(r100) / n, 4),
            "mrr@10": round(sum(mrr) / n, 4),
            "p50_ms": round(percentile(times, 50), 2),
            "p99_ms": round(percentile(times, 99), 2),
        }
        if answers and ans["pairs"]:
            res["answer_rate"] = round(ans["hits"] / ans["pairs"], 4)
            res["first_sentence_rate"] = round(ans["first"] / ans["pairs"], 4)
            res["answer_pairs"] = ans["pairs"]
        out["modes"][mode] = res
    return out


def _rationales(root: Path, split: str) -> dict[str, dict[str, list[tuple[int, int]]]]:
    path = Path(root) / f"rationales-{split}.jsonl"
    out: dict[str, dict[str, list[tuple[int, int]]]] = {}
    if not path.is_file():
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            spans = [(int(s[0]), int(s[1])) for s in d.get("spans", [])]
            out.setdefault(str(d["query-id"]), {}).setdefault(str(d["corpus-id"]), []).extend(spans)
    return out


def _score_answers(hits, rationale: dict[str, list[tuple[int, int]]], ds: beir.Dataset, acc: dict) -> None:
    """Does the chosen sentence overlap a rationale sentence? And would the first sentence?"""

    for h in hits:
        spans = rationale.get(h.source)
        if not spans or h.answer is None:
            continue
        offset = len(h.text) - len(_abstract_text(h.text, ds, h.source))
        a, b = h.answer.char_start - h.char_start - offset, h.answer.char_end - h.char_start - offset
        acc["pairs"] += 1
        acc["hits"] += any(a < e and s < b for s, e in spans)
        abstract = h.text[offset:]
        first = sentence_spans(abstract)[:1] or [(0, len(abstract))]
        fa, fb = first[0]
        acc["first"] += any(fa < e and s < fb for s, e in spans)


_TEXT_CACHE: dict[str, str] = {}


def _abstract_text(passage_text: str, ds: beir.Dataset, doc_id: str) -> str:
    """The record's ``text`` (rationale spans index into it), which ends the passage text."""
    if not _TEXT_CACHE:
        with open(ds.root / "corpus.jsonl", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    d = json.loads(line)
                    _TEXT_CACHE[str(d["_id"])] = (d.get("text") or "").strip()
    return _TEXT_CACHE.get(doc_id, passage_text)


def format_table(res: dict) -> str:
    lines = [
        f"{res['dataset']} ({res['split']}): {res['queries']} queries over {res['corpus']} passages; "
        f"index {'reused' if res['index_reused'] else 'built'} in {res['index_seconds']}s",
        "",
        f"{'mode':<8} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} {'MRR@10':>7} {'answer':>7} {'1st sent':>8} {'p50 ms':>7} {'p99 ms':>7}",
    ]
    for mode, m in res["modes"].items():
        ans = f"{m['answer_rate']:.3f}" if "answer_rate" in m else "-"
        first = f"{m['first_sentence_rate']:.3f}" if "first_sentence_rate" in m else "-"
        lines.append(
            f"{mode:<8} {m['ndcg@10']:>8.4f} {m['recall@10']:>7.4f} {m['recall@100']:>7.4f} {m['mrr@10']:>7.4f} "
            f"{ans:>7} {first:>8} {m['p50_ms']:>7.2f} {m['p99_ms']:>7.2f}"
        )
    return "\n".join(lines)


def run_cli(args) -> int:

    modes = ALL_MODES if args.mode == "all" else (args.mode,)
    return run_and_print(lambda bar: evaluate(args.data_dir, split=args.split, modes=modes, k=args.k, index=args.index,
                                              progress=bar), args.json, format_table)
