"""Where a first build's time goes, stage by stage (issue 26): a folder of SciFact abstracts as
files (:mod:`scifact_files`), one ``build_index`` in this process with each stage's functions
wrapped by a wall clock.

    .venv/bin/python bench/speed/build_profile.py [--docs 2000] [--precision fp32|int8] [--json]

Stages (nested ones are shown indented; a stage's time includes its nested ones):
walk (listing the folder), changes (the change decision), reading (read_file: decoding, hashing,
parsing, chunking with the tokenizer's word-piece ends), embedding (the encoder: tokenizing, then
ONNX Runtime), bm25-tokens (the passages' BM25 terms), postings (term counts into postings),
segment-write (the segment's files, fsync and checksums; HNSW insertion when the segment reaches
the HNSW threshold), calibration (the confidence model's fit: encoding its questions, searching),
publish (the manifest, the switch). ``other`` is the rest of ``build_index``'s wall time.
Only a benchmark: the wrappers replace module attributes in this process, never in the product.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for harness

from harness import SCIFACT, load_line, proc_status_mb  # noqa: E402

TOTALS: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
ACTIVE: list[str] = []  # the stages running now, outermost first


def clocked(name: str, fn):
    """``fn`` timed under ``name``; the encoder's stages run by the calibration count as its own."""
    def wrapper(*a, **kw):
        key = name
        if name.startswith("embedding") and "calibration" in ACTIVE:
            key = "calibration/questions-" + (name.split("/", 1)[1] if "/" in name else "encode")
        ACTIVE.append(key)
        t = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            TOTALS[key] += time.perf_counter() - t
            CALLS[key] += 1
            ACTIVE.pop()
    wrapper.__wrapped__ = fn
    return wrapper


def clock_generator(name: str, fn):
    """A generator function's time, the consumer's pauses excluded."""
    def wrapper(*a, **kw):
        it = fn(*a, **kw)
        while True:
            t = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                TOTALS[name] += time.perf_counter() - t
                return
            TOTALS[name] += time.perf_counter() - t
            yield item
    return wrapper


class _TimedSession:
    def __init__(self, session) -> None:
        self._s = session

    def run(self, *a, **kw):
        return clocked("embedding/onnxruntime", self._s.run)(*a, **kw)


class _TimedHnsw:
    def __init__(self, faiss) -> None:
        self._faiss = faiss

    def __getattr__(self, name):
        attr = getattr(self._faiss, name)
        if name != "IndexHNSWFlat":
            return attr

        def make(*a):
            index = attr(*a)
            add = index.add
            index.add = clocked("segment-write/hnsw-insert", add)
            return index
        return make


def instrument() -> None:
    """Wrap each stage's functions where the build looks them up."""
    from rag.documents import changes
    from rag.embedding import onnx_session
    from rag.index import local, segments
    from rag.indexing import build, changed_files, commit, reading

    build.iter_seed_files = clocked("walk", build.iter_seed_files)
    build.detect_changes = clocked("changes", build.detect_changes)
    changed_files.read_all = clock_generator("reading", changed_files.read_all)
    reading.read_seed = clocked("reading/decode+hash+parse", reading.read_seed)
    reading.chunk = clocked("reading/chunk", reading.chunk)
    commit.passage_encoder = _timed_encoder(commit.passage_encoder, onnx_session)
    commit.tokenize_many = clocked("bm25-tokens", commit.tokenize_many)
    local.data_from_tokens = clocked("postings", local.data_from_tokens)
    local.write_segment = clocked("segment-write", local.write_segment)
    faiss_of = segments._faiss
    segments._faiss = lambda: _TimedHnsw(faiss_of())
    commit.calibrate_staged = clocked("calibration", commit.calibrate_staged)
    local.LocalIndex._publish = clocked("publish", local.LocalIndex._publish)
    del changes


def _timed_encoder(passage_encoder, onnx_session):
    """The build's encoder with its calls timed: an fp32 export, or an int8 build's pair (passages
    int8, the confidence model's questions fp32)."""
    def get(info, stats=None):
        enc = passage_encoder(info, stats)
        for inner in (getattr(enc, "passages", enc), getattr(enc, "questions", enc)):
            if isinstance(inner, onnx_session.OnnxQueryEncoder) and not isinstance(inner._session, _TimedSession):
                inner._session = _TimedSession(inner._session)
                inner.tokenize = clocked("embedding/tokenize", inner.tokenize)
        if not hasattr(enc.encode, "__wrapped__"):
            enc.encode = clocked("embedding", enc.encode)
            if hasattr(enc, "encode_queries"):
                enc.encode_queries = clocked("embedding", enc.encode_queries)
        return enc
    return get


ORDER = ["walk", "changes", "reading", "reading/decode+hash+parse", "reading/chunk", "embedding",
         "embedding/tokenize", "embedding/onnxruntime", "bm25-tokens", "postings", "segment-write",
         "segment-write/hnsw-insert", "calibration", "calibration/questions-encode", "publish"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--dense", default="auto", choices=["auto", "flat", "hnsw"],
                    help="the dense index kind (hnsw: insertion into HNSW at any size)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "int8"], help="how passages are embedded")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from scifact_files import abstracts, write_folder

    from rag.indexing.build import build_index

    with tempfile.TemporaryDirectory(prefix="rag-profile-") as tmp:
        os.environ.setdefault("RAG_CACHE_DIR", str(Path.home() / ".cache" / "rag"))  # the export, made once
        seeds = Path(tmp) / "seeds"
        write_folder(seeds, abstracts(SCIFACT, args.docs))
        instrument()
        load0 = load_line()
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        stats = build_index(seeds, Path(tmp) / "index", dense_kind=args.dense, export_query_encoder=False,
                            precision=args.precision)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    top = [k for k in ORDER if "/" not in k]
    out = {"docs": args.docs, "passages": stats.passages, "encoder": f"{stats.encoder} {args.precision}",
           "wall_s": round(wall, 2),
           "cpu_s": round(cpu, 2), "peak_rss_mb": round(proc_status_mb("VmHWM"), 1),
           "stages": {k: round(TOTALS[k], 3) for k in ORDER if k in TOTALS},
           "other": round(wall - sum(TOTALS[k] for k in top), 3), "load": [load0, load_line()]}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{out['docs']} SciFact abstracts as files, {out['passages']} passages, encoder {out['encoder']}: "
          f"{wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {out['peak_rss_mb']:.0f} MB ({load0} -> {load_line()})")
    print("| stage | seconds | share |\n|---|---|---|")
    for k in ORDER:
        if k in TOTALS:
            label = ("&nbsp;&nbsp;" + k.split("/", 1)[1]) if "/" in k else k
            print(f"| {label} | {TOTALS[k]:.2f} | {100 * TOTALS[k] / wall:.1f}% |")
    print(f"| other | {out['other']:.2f} | {100 * out['other'] / wall:.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
