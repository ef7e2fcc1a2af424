"""Passages and questions per second of the ONNX Runtime exports, batched by tokens (what a build
does: about ``BATCH_TOKENS`` word pieces a batch) or by 32 rows (what it did before), interleaved
in one process (issue 26).

    .venv/bin/python bench/speed/batching.py [--abstracts 120] [--rounds 3]

Passages: SciFact abstracts written as rag's files and read back as the texts rag embeds
(:mod:`scifact_files`); questions: the confidence model's off-topic bank, three times. Medians of
the rounds. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for harness

from harness import SCIFACT, load_line, markdown_table  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--abstracts", type=int, default=120)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from scifact_files import abstracts, indexed_texts, write_folder

    from rag.embedding import model, onnx_encoder
    from rag.embedding.onnx_session import BATCH_TOKENS, MAX_BATCH
    from rag.indexing.calibration import offtopic_questions

    with tempfile.TemporaryDirectory() as tmp:
        write_folder(Path(tmp), abstracts(SCIFACT, args.abstracts, skip=50))
        passages = indexed_texts(Path(tmp))
    questions = offtopic_questions() * 3
    info = model.model_info(model.default_model_dir())
    encoders = {p: onnx_encoder.load_export(Path(info.path), replace(info, precision=p)) for p in ("fp32", "int8")}
    if None in encoders.values():
        raise SystemExit("no ONNX export in the user cache yet: run `rag index` once (and an int8 build for int8)")
    ways = {f"about {BATCH_TOKENS} tokens (at most {MAX_BATCH} rows)": (BATCH_TOKENS, MAX_BATCH), "32 rows": (10**9, 32)}
    work = (("fp32 passages", "fp32", passages), ("int8 passages", "int8", passages), ("fp32 questions", "fp32", questions))
    rate: dict[tuple[str, str], list[float]] = {}
    load0 = load_line()
    for _ in range(args.rounds):
        for way, (tokens, rows) in ways.items():
            for what, precision, texts in work:
                t = time.perf_counter()
                encoders[precision].encode(texts, batch_tokens=tokens, max_rows=rows)
                rate.setdefault((what, way), []).append(len(texts) / (time.perf_counter() - t))
    print(f"{len(passages)} passages, {len(questions)} questions, {args.rounds} rounds interleaved; {load0} -> {load_line()}")
    print(markdown_table(["texts", *ways], [(what, *(f"{statistics.median(rate[(what, w)]):.0f}/s" for w in ways))
                                            for what, _, _ in work]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
