"""index: indexing throughput on SciFact's corpus texts, rag's build path vs the naive baseline
(sentence-transformers ``encode`` in fp32 with default settings + ``IndexFlatIP.add``), each side in
its own process, interleaved chunk by chunk (A B B A ...); then nDCG@10 (hybrid, dense) of an index
built with rag's path vs one built from the fp32 vectors.

The workers import numpy, FAISS and torch inside their functions: the orchestrator imports this
module too and stays light.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import CHILD_ENV, REPO, RESULT_TAG, SCIFACT, emit, fmt, log, loadavg, mb, met, run_worker, worker_argv
from rag.documents.headers import indexed_text
from rag.evaluation import beir

TITLE = "Indexing"


def scifact(ids: list[str] | None):
    """SciFact's test split, and its passages (those of ``ids`` only, if given)."""
    ds = beir.load(SCIFACT, "test")
    if ids is None:
        return ds, ds.passages
    keep = set(ids)
    return ds, [p for p in ds.passages if p.source in keep]


def quick_ids(n: int) -> list[str]:
    """n corpus ids: every document relevant to a test question, then random others (seed 0)."""
    ds, _ = scifact(None)
    rel = sorted({d for q in ds.qrels.values() for d in q})
    ids = [p.source for p in ds.passages]
    relevant = set(rel)
    rest = [i for i in ids if i not in relevant]
    random.Random(0).shuffle(rest)
    keep = set(rel[:n]) | set(rest[: max(0, n - len(rel))])
    return [i for i in ids if i in keep]


class Gate:
    """Lets the orchestrator interleave two workers chunk by chunk: the worker runs only between a
    ``go`` on its stdin and its next ``pause()``; ``active`` is the time it ran."""

    def __init__(self) -> None:
        self.active = 0.0
        self.segments = 0
        self._t = 0.0

    def _wait(self) -> None:
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("gate closed")
        self._t = time.perf_counter()

    def ready(self) -> None:
        print("@@READY", flush=True)
        self._wait()

    def running(self) -> float:
        """Seconds run so far."""
        return self.active + time.perf_counter() - self._t

    def pause(self) -> None:
        self.active = self.running()
        self.segments += 1
        print("@@PAUSE", flush=True)
        self._wait()

    def finish(self) -> None:
        self.active = self.running()
        self.segments += 1


def w_index_ours(p: dict) -> None:
    """rag's build path (build_passages, default DocumentEncoder) into a fresh index folder; it
    pauses after every chunk of texts the encoder reports (DocumentEncoder.CHUNK)."""
    ds, passages = scifact(p["ids"])
    # heavy imports before the clock starts, as on the naive side
    import faiss  # noqa: F401
    import sentence_transformers  # noqa: F401
    import torch

    from rag.embedding.document_encoder import cpu_has_bf16
    from rag.indexing.build import build_passages

    gate = Gate()
    stages: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "embedding" and done < total:
            gate.pause()
        if stage == "writing" and done == 0:
            stages["encode_done_active_s"] = gate.running()

    corpus = {"bench-subset": {"n": len(passages), "first": passages[0].source, "last": passages[-1].source}}
    gate.ready()
    # The one-time ONNX export of the query encoder is not indexing throughput (it is in `incr`'s full build).
    stats = build_passages(p["out"], passages, corpus, progress=progress, export_query_encoder=False)
    gate.finish()
    emit({"passages": len(passages), "seconds": gate.active, "segments": gate.segments,
          "per_s": len(passages) / gate.active, "embedded": stats.embedded, "encoder": stats.encoder,
          "cpu_bf16": cpu_has_bf16(), "torch_threads": torch.get_num_threads(), **stages})


def w_index_naive(p: dict) -> None:
    """The naive baseline: SentenceTransformer(model).encode(texts) in fp32 with default settings,
    then IndexFlatIP.add; a forward pre-hook pauses it every 8 batches (256 texts). The texts are
    those rag embeds (each passage with its title header)."""
    ds, passages = scifact(p["ids"])
    texts = [indexed_text(x) for x in passages]
    import faiss  # heavy: in the worker only
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from rag.embedding.model import default_model_dir

    model_dir = str(default_model_dir())
    gate = Gate()
    calls = [0]

    def pre_hook(module, args):
        if calls[0] and calls[0] % 8 == 0:
            gate.pause()
        calls[0] += 1

    gate.ready()
    model = SentenceTransformer(model_dir, device="cpu")
    model[0].register_forward_pre_hook(pre_hook)
    vecs = model.encode(texts)
    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(vecs)
    gate.finish()
    if p.get("save"):
        np.save(p["save"], np.asarray(vecs, dtype=np.float32), allow_pickle=False)
    emit({"passages": len(passages), "seconds": gate.active, "segments": gate.segments,
          "per_s": len(passages) / gate.active, "batches": calls[0], "dtype": str(vecs.dtype),
          "norm_min": float(np.linalg.norm(vecs, axis=1).min()), "torch_threads": torch.get_num_threads()})


class Precomputed:
    """An Encoder that returns given vectors for given texts (to index the fp32 vectors); questions
    (the build's calibration) go to rag's query encoder."""

    path_name = "precomputed-fp32"

    def __init__(self, texts, vectors) -> None:
        from rag.embedding.model import default_model_dir, model_info, word_pieces  # in the worker only

        self.info = model_info(default_model_dir())
        self._pieces = word_pieces(self.info.path)
        self._rows = {t: i for i, t in enumerate(texts)}
        self._vectors = vectors

    def token_ends(self, text: str) -> list[int]:
        return self._pieces.token_ends(text)

    def encode(self, texts, progress=None, cancel=None):
        return self._vectors[[self._rows[t] for t in texts]]

    def encode_queries(self, texts):
        from rag.embedding.onnx_encoder import load_query_encoder  # in the worker only

        return load_query_encoder(self.info.path, self.info).encode(texts)


def w_index_eval(p: dict) -> None:
    """nDCG@10 (hybrid, dense) of the index built by rag's path vs one built from the fp32 vectors."""
    import numpy as np  # heavy: in the worker only

    from rag.evaluation.metrics import ndcg_at
    from rag.index.local import LocalIndex
    from rag.index.passages_io import passage_key
    from rag.indexing.build import build_passages
    from rag.search.retriever import Retriever

    ds, passages = scifact(p["ids"])
    fp32 = np.load(p["fp32_vectors"])
    corpus = {"bench-subset": {"n": len(passages), "first": passages[0].source, "last": passages[-1].source}}
    build_passages(p["fp32_index"], passages, corpus, encoder=Precomputed([indexed_text(x) for x in passages], fp32))
    with LocalIndex.open(p["ours_index"]) as ours:  # aligned with fp32 by stable passage key
        ours_vectors = np.stack(ours.vectors_of([passage_key(x) for x in passages]))
    cos = np.sum(ours_vectors * fp32, axis=1) / (np.linalg.norm(ours_vectors, axis=1) * np.linalg.norm(fp32, axis=1))
    qids = sorted(ds.queries)
    out: dict = {"queries": len(qids), "passages": len(passages), "cosine_min": float(cos.min()),
                 "cosine_median": float(np.median(cos)), "cosine_p1": float(np.percentile(cos, 1))}
    for label, folder in (("ours", p["ours_index"]), ("fp32", p["fp32_index"])):
        r = Retriever.open(folder)
        out[label] = {"encoder": r.manifest.get("encoder")}
        for mode in ("hybrid", "dense"):
            nd = [ndcg_at([h.source for h in r.search(ds.queries[q], k=10, mode=mode, answers=False)], ds.qrels[q], 10)
                  for q in qids]
            out[label][mode] = sum(nd) / len(nd)
    emit(out)


WORKERS = {"index_ours": w_index_ours, "index_naive": w_index_naive, "index_eval": w_index_eval}


def run_gated(a: tuple[str, dict], b: tuple[str, dict]) -> tuple[dict, dict, list[str]]:
    """Run two gated workers side by side, one computing at a time, in the order a b b a a b b a ...
    (each turn lasts until the worker's next pause); their results and the order of turns."""
    procs = {}
    errs = {}
    for name, params in (a, b):
        errs[name] = tempfile.TemporaryFile()
        procs[name] = subprocess.Popen(worker_argv(name, params), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=errs[name], cwd=str(REPO), env=CHILD_ENV, text=True, bufsize=1)
    results: dict[str, dict] = {}

    def fail(name: str, why: str):
        for p in procs.values():
            if p.poll() is None:
                p.kill()
        errs[name].seek(0)
        tail = "\n".join(errs[name].read().decode("utf-8", "replace").strip().splitlines()[-15:])
        raise RuntimeError(f"worker {name} {why}:\n{tail}")

    def until(name: str, tags: tuple[str, ...]) -> str:
        p = procs[name]
        while True:
            line = p.stdout.readline()
            if not line:
                fail(name, f"ended early (exit {p.wait()})")
            if line.startswith(tags):
                return line

    for name in procs:
        until(name, ("@@READY",))
    names = [a[0], b[0]]
    turns: list[str] = []
    step = 0
    while len(results) < 2:
        pair, first = divmod(step, 2)
        name = names[first] if pair % 2 == 0 else names[1 - first]
        step += 1
        if name in results:
            continue
        procs[name].stdin.write("go\n")
        procs[name].stdin.flush()
        turns.append(name)
        line = until(name, ("@@PAUSE", RESULT_TAG))
        if line.startswith(RESULT_TAG):
            results[name] = json.loads(line[len(RESULT_TAG):])
    for name, p in procs.items():
        p.stdin.close()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        results[name]["maxrss_mb"] = round(ru.ru_maxrss / 1024.0, 1)
        errs[name].close()
    return results[a[0]], results[b[0]], turns


def run(args, work: Path) -> dict:
    ids = quick_ids(500) if args.quick else None
    fp32 = work / "fp32_vectors.npy"
    log(f"index: rag's build path and the naive baseline on {'500' if ids else 'all'} documents, interleaved "
        "chunk by chunk (256 texts)")
    load0 = loadavg()
    ours, naive, turns = run_gated(("index_ours", {"ids": ids, "out": str(work / "ours-index")}),
                                   ("index_naive", {"ids": ids, "save": str(fp32)}))
    log(f"index: ours {ours['per_s']:.1f} passages/s ({ours['seconds']:.1f} s, {ours['encoder']}), "
        f"naive {naive['per_s']:.1f} passages/s ({naive['seconds']:.1f} s)")
    log("index: nDCG@10 of the two indexes")
    ev = run_worker("index_eval", {"ids": ids, "fp32_vectors": str(fp32), "ours_index": str(work / "ours-index"),
                                   "fp32_index": str(work / "fp32-index")})
    return {
        "documents": ours["passages"],
        "subset": bool(ids),
        "turns": len(turns),
        "load_during": [load0, loadavg()],
        "ours": {"seconds": ours["seconds"], "per_s": ours["per_s"], "encoder": ours["encoder"],
                 "cpu_bf16": ours["cpu_bf16"], "rss_mb": ours["vmhwm_mb"], "run": ours},
        "naive": {"seconds": naive["seconds"], "per_s": naive["per_s"], "rss_mb": naive["vmhwm_mb"], "run": naive},
        "ratio": naive["seconds"] / ours["seconds"],
        "eval": ev,
    }


def rows(ix: dict) -> list[tuple]:
    out = [(
        f"Indexing SciFact ({ix['documents']:,} abstracts{', subset' if ix['subset'] else ''}), passages/s",
        f"{ix['ours']['per_s']:.1f}/s ({ix['ours']['seconds']:.1f} s, {ix['ours']['encoder']})",
        f"{ix['naive']['per_s']:.1f}/s ({ix['naive']['seconds']:.1f} s, ST fp32 + IndexFlatIP)",
        f"{ix['ratio']:.2f}x", ">= 2.0x", met(ix["ratio"] >= 2.0), mb(ix["ours"]["rss_mb"], ix["naive"]["rss_mb"]),
    )]
    ev = ix["eval"]
    for mode in ("hybrid", "dense"):
        d = ev["ours"][mode] - ev["fp32"][mode]
        out.append((f"nDCG@10 {mode}, index built by rag vs from fp32 vectors", f"{ev['ours'][mode]:.4f}",
                    f"{ev['fp32'][mode]:.4f}", f"Δ {d:+.4f}", "|Δ| <= 0.003", met(abs(d) <= 0.003), ""))
    out.append(("Vector cosine, rag's vs fp32 (min / median)",
                f"{fmt(ev['cosine_min'], '{:.5f}')} / {fmt(ev['cosine_median'], '{:.6f}')}", "1", "", "", "", ""))
    return out
