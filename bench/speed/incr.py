"""incr: `rag index` on a SciFact-sized seeds folder (one .txt per abstract): a full build, then no
change, one file added, that file removed; the baseline is the full build.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

from harness import SCIFACT, log, mb, met, rag_cli, run_child
from rag.evaluation import beir
from rag.index.store import open_meta

TITLE = "Incremental rebuild"
WORKERS: dict = {}


def write_seeds(folder: Path, passages) -> None:
    """One file per abstract: its title on the first line, then its text."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(passages):
        (folder / f"{i:05d}_{p.source}.txt").write_text(f"{p.title}\n{p.text}\n" if p.title else p.text + "\n",
                                                       encoding="utf-8")


def run(args, work: Path) -> dict:
    passages = beir.load(SCIFACT, "test").passages
    if args.quick:
        passages = passages[:500]
    seeds, index = work / "seeds", work / "seeds-index"
    write_seeds(seeds, passages)
    base = rag_cli() + ["index", "--seeds", str(seeds), "--index", str(index), "--json"]

    def index_run(what: str) -> dict:
        r = run_child(base, timeout=3600)
        if r["rc"] != 0:
            raise RuntimeError(f"rag index ({what}) failed: {r['stderr'][-800:]}")
        d = json.loads(r["stdout"].strip().splitlines()[-1])
        d.update(wall=r["wall"], maxrss_mb=r["maxrss_mb"])
        return d

    log(f"incr: full build of {len(passages)} seed files (nothing to reuse)")
    full = index_run("full build")
    log(f"incr: full build {full['wall']:.1f} s, {full['passages']} passages, encoder {full['encoder']}")
    nochange = [index_run("no change") for _ in range(5)]
    log(f"incr: no change: {[round(d['wall'], 3) for d in nochange]}")
    adds, removes = [], []
    for rep in range(args.incr_reps):
        name = f"zz_added_{rep}.txt"
        marker = f"{os.getpid()}-{time.time_ns()}"
        paras = []
        for j, p in enumerate(passages[rep * 3: rep * 3 + 3]):
            # Short paragraphs, each with a unique marker: every passage of the file is new text.
            body = p.text[:500].rsplit(" ", 1)[0]
            paras.append(f"Added paragraph {j} ({marker}). {body}.")
        (seeds / name).write_text("\n\n".join(paras) + "\n", encoding="utf-8")
        d = index_run("one file added")
        d["file_passages"] = open_meta(index)[1]["files"][name]["passages"]
        adds.append(d)
        (seeds / name).unlink()
        removes.append(index_run("one file removed"))
        log(f"incr: add {d['wall']:.2f} s (embedded {d['embedded']} of the file's {d['file_passages']} passages), "
            f"remove {removes[-1]['wall']:.2f} s")

    def med(xs: list[dict]) -> float:
        return statistics.median(x["wall"] for x in xs)

    return {
        "files": len(passages),
        "passages": full["passages"],
        "full": {"wall_s": full["wall"], "embedded": full["embedded"], "encoder": full["encoder"],
                 "rss_mb": full["maxrss_mb"], "exported_query_encoder": full.get("exported_query_encoder")},
        "nochange": {"median_s": med(nochange), "walls": [x["wall"] for x in nochange],
                     "all_unchanged": all(not x["changed"] for x in nochange),
                     "rss_mb": max(x["maxrss_mb"] for x in nochange)},
        "add": {"median_s": med(adds), "walls": [x["wall"] for x in adds],
                "embedded": [x["embedded"] for x in adds], "file_passages": [x["file_passages"] for x in adds],
                "only_that_file": all(x["embedded"] == x["file_passages"] for x in adds),
                "rss_mb": max(x["maxrss_mb"] for x in adds)},
        "remove": {"median_s": med(removes), "walls": [x["wall"] for x in removes],
                   "embedded": [x["embedded"] for x in removes], "rss_mb": max(x["maxrss_mb"] for x in removes)},
    }


def rows(inc: dict) -> list[tuple]:
    full = inc["full"]["wall_s"]
    add, rm, same = inc["add"], inc["remove"], inc["nochange"]
    return [
        (f"Full `rag index` of {inc['files']:,} seed files ({inc['passages']:,} passages)",
         f"{full:.1f} s ({inc['full']['encoder']}"
         + ("; includes the one-time ONNX export" if inc["full"].get("exported_query_encoder") else "") + ")",
         "", "", "", "", mb(inc["full"]["rss_mb"])),
        ("`rag index`, no change (median of 5)", f"{same['median_s']:.2f} s", f"{full:.1f} s (full rebuild)",
         f"{full / same['median_s']:.0f}x", "<= 1.0 s", met(same["median_s"] <= 1.0 and same["all_unchanged"]),
         mb(same["rss_mb"])),
        (f"`rag index` after adding one file (median of {len(add['walls'])}): embedded / file's passages",
         f"{add['median_s']:.2f} s; " + ", ".join(f"{e}/{f}" for e, f in zip(add["embedded"], add["file_passages"])),
         f"{full:.1f} s (full rebuild)", f"{full / add['median_s']:.0f}x", "only that file re-embedded",
         met(add["only_that_file"]), mb(add["rss_mb"])),
        ("`rag index` after removing it", f"{rm['median_s']:.2f} s; embedded " + ", ".join(map(str, rm["embedded"])),
         f"{full:.1f} s", f"{full / rm['median_s']:.0f}x", "", "", mb(rm["rss_mb"])),
    ]
