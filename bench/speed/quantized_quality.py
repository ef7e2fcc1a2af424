"""Retrieval quality of each embedding precision (issue 26): nDCG@10, dense and hybrid, on SciFact
test, SciFact train and TREC CAsT 2022 (+ every SciFact abstract as distractors), the passages and
the questions embedded by the same export; ``--mixed`` also scores passages of one precision
searched by questions of the other.

    .venv/bin/python bench/speed/quantized_quality.py [--precisions fp32,int8] [--mixed] [--json]

The collections and the scoring are bench/fusion_corpora.py's (rag's own index of each collection,
the default fusion). Each precision's export is rag's own (:func:`rag.embedding.onnx_export.export`
into the user cache); the corpus vectors are kept under ``--work`` per export (its sha256), so a
second run only encodes questions. Embedding the 5,386 passages takes 5-15 minutes a precision here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for harness and fusion_corpora

from harness import BENCH, SCIFACT, load_line, log, markdown_table  # noqa: E402

CAST = Path("/work/shared/data/cast2022")


def collections_text(scifact: Path, cast: Path):
    """SciFact's passages, CAsT's response passages (ids prefixed) and CAsT's rewritten questions."""
    from fusion_corpora import cast_response_passages  # loads rag and numpy: only when the benchmark runs

    from rag.evaluation import beir

    train, test = beir.load(scifact, "train"), beir.load(scifact, "test")
    cast_passages = cast_response_passages(cast)
    seen, queries, qrels = set(), [], []
    for line in (cast / "conversations.jsonl").read_text(encoding="utf-8").splitlines():
        t = json.loads(line) if line.strip() else None
        if not t or not t.get("gold") or not t.get("rewrite") or (t["rewrite"], t["gold"]) in seen:
            continue
        seen.add((t["rewrite"], t["gold"]))
        queries.append(t["rewrite"])
        qrels.append({"cast:" + t["gold"]: 1})
    return train, test, cast_passages, queries, qrels


def encoder(precision: str):
    from rag.embedding.model import default_model_dir, model_info
    from rag.embedding.onnx_encoder import load_export
    from rag.embedding.onnx_export import export

    info = replace(model_info(default_model_dir()), precision=precision)
    export(info)  # made once per user cache
    return load_export(Path(info.path), info)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--precisions", default="fp32,int8")
    ap.add_argument("--mixed", action="store_true", help="also passages of one precision, questions of the other")
    ap.add_argument("--scifact", type=Path, default=SCIFACT)
    ap.add_argument("--cast", type=Path, default=CAST)
    ap.add_argument("--work", type=Path, default=BENCH / "out" / "quantized_quality")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import numpy as np
    from fusion_corpora import DEFAULT_FUSION, collection, run_mode

    from rag.documents.headers import indexed_text

    train, test, cast_passages, cast_q, cast_rel = collections_text(args.scifact, args.cast)
    passages = cast_passages + train.passages
    texts = [indexed_text(p) for p in passages]
    ns = len(cast_passages)
    precisions = args.precisions.split(",")
    encs = {p: encoder(p) for p in precisions}
    vectors = {}
    args.work.mkdir(parents=True, exist_ok=True)
    for p, enc in encs.items():
        tag = hashlib.sha256(enc.onnx_path.read_bytes()).hexdigest()[:12]
        cache = args.work / f"{p}-{tag}-{hashlib.sha256(''.join(texts).encode()).hexdigest()[:8]}.npy"
        if cache.exists():
            vectors[p] = np.load(cache, allow_pickle=False)
        else:
            log(f"embedding {len(texts)} passages with the {p} export ({load_line()})")
            t = time.perf_counter()
            vectors[p] = enc.encode(texts)
            log(f"  {time.perf_counter() - t:.0f} s")
            np.save(cache, vectors[p], allow_pickle=False)
    pairs = [(p, p) for p in precisions]
    if args.mixed:
        pairs += [(a, b) for a in precisions for b in precisions if a != b]
    out = {}
    for pp, qp in pairs:
        vecs, enc = vectors[pp], encs[qp]
        res = {}
        for split, ds in (("scifact-test", test), ("scifact-train", train)):
            qids = sorted(ds.queries)
            c = collection(split, [p.source for p in train.passages], texts[ns:], vecs[ns:], enc,
                           [ds.queries[q] for q in qids], [ds.qrels[q] for q in qids])
            res[split] = {m: run_mode(c, m if m == "dense" else DEFAULT_FUSION) for m in ("dense", "hybrid")}
        c = collection("cast2022", [p.source for p in passages], texts, vecs, enc, cast_q, cast_rel)
        res["cast2022"] = {m: run_mode(c, m if m == "dense" else DEFAULT_FUSION) for m in ("dense", "hybrid")}
        out[f"passages {pp}, questions {qp}"] = res
        log(f"passages {pp}, questions {qp}: {json.dumps(res)}")
    if args.json:
        print(json.dumps(out))
        return 0
    base = out.get("passages fp32, questions fp32")
    rows = []
    for name, res in out.items():
        for col, modes in res.items():
            for m, v in modes.items():
                d = f"{v - base[col][m]:+.4f}" if base and name != "passages fp32, questions fp32" else ""
                rows.append((name, col, m, f"{v:.4f}", d))
    print(markdown_table(["vectors", "collection", "mode", "nDCG@10", "vs fp32"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
