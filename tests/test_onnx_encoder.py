"""The ONNX Runtime query encoder: exported once per model into the user cache (shared by every
index), equal to sentence-transformers, and refused (queries fall back to sentence-transformers in
process, with one line; `rag index` exports it again) when damaged."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import Retriever, build_index
from rag.errors import ModelError
from rag.embedding.model import default_model_dir, model_info
from rag.embedding.document_encoder import TorchQueryEncoder
from rag.embedding.encoder_cache import (ExportLock, cache_dir, data_path, encoder_paths, export_is_current,
                                         start_background_export)
from rag.embedding.onnx_encoder import load_export
from rag.embedding.onnx_session import OnnxQueryEncoder
from embedding_texts import DOCS, MIN_COSINE, QUERIES, TEXTS, st_encode

pytestmark = pytest.mark.e2e

QUESTIONS = [
    "How many participants and observers are expected in Sochi?",
    "security measures for the Olympic games",
    "who is responsible for the safety of visitors",
    "terrorist threats",
    "a",
]


@pytest.fixture(scope="module")
def st_model():
    """The reference: sentence-transformers itself."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(default_model_dir()), device="cpu", local_files_only=True)


@pytest.fixture(scope="module")
def onnx_encoder(real_index: Path) -> OnnxQueryEncoder:
    enc = Retriever.open(real_index).encoder()
    assert isinstance(enc, OnnxQueryEncoder), getattr(enc, "fallback_reason", "")
    return enc


@pytest.fixture()
def work(tmp_path: Path, real_index: Path, monkeypatch) -> Path:
    """A private copy of the seeds and the real index, and of the user cache with its export
    (RAG_CACHE_DIR points at the copy for this test and the processes it starts)."""
    dst = tmp_path / "w"
    shutil.copytree(real_index.parent.parent, dst, symlinks=True)
    shutil.copytree(cache_dir(), tmp_path / "cache")
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    return dst / "indexes" / "default"


def _paths() -> tuple[Path, Path]:
    return encoder_paths(model_info(default_model_dir()))


# --------------------------------------------------------------------------- the export


def test_build_exports_once_into_the_user_cache_and_records_it(real_index: Path, work: Path, tmp_path: Path) -> None:
    onnx_path, meta_path = _paths()
    assert onnx_path.parent == tmp_path / "cache" / "encoders"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    assert onnx_path.stat().st_size == meta["onnx_bytes"]
    # graph-optimized, its weights in a file beside it that ONNX Runtime maps (a cheap cold start)
    assert data_path(onnx_path).stat().st_size == meta["data_bytes"] > 10_000_000 > meta["onnx_bytes"]
    assert meta["min_probe_cosine"] >= MIN_COSINE and meta["pooling"] == "mean"
    assert len(meta["probe"]["vector"]) == 384
    assert not [p for p in onnx_path.parent.iterdir() if p.name.startswith(".tmp-")]
    assert not (real_index / "encoders").exists()  # nothing per index folder
    # a second build over the same seeds finds the export current and does not redo it
    stats = build_index(real_index.parent.parent / "seeds", work)  # the seeds the copy was built from
    assert not stats.changed and not stats.exported_query_encoder
    # ... and so does a new index: one export per model, shared
    stats = build_index(real_index.parent.parent / "seeds", tmp_path / "another")
    assert stats.changed and not stats.exported_query_encoder
    assert "ONNX" not in stats.summary()
    assert Retriever.open(tmp_path / "another").encoder().path_name == "onnxruntime"


def test_failed_export_leaves_the_build_done_and_nothing_half_written(real_index: Path, work: Path, monkeypatch) -> None:
    from rag.embedding import bert_graph

    onnx_path, meta_path = _paths()
    shutil.rmtree(onnx_path.parent)

    def broken(*a, data=None, **k):
        data.write(b"half an onnx file")
        raise RuntimeError("exporter exploded\nwith a traceback-like second line")

    monkeypatch.setattr(bert_graph, "build_model", broken)
    stats = build_index(real_index.parent.parent / "seeds", work)
    assert not stats.changed and not stats.exported_query_encoder
    assert any("exporter exploded" in w and "sentence-transformers" in w and "\n" not in w
               for w in stats.warnings), stats.warnings
    assert not onnx_path.exists() and not meta_path.exists()
    assert not [p for p in onnx_path.parent.iterdir() if p.suffix != ".lock"]
    enc = Retriever.open(work).encoder()  # tries to export again (no torch), fails the same way
    assert isinstance(enc, TorchQueryEncoder) and "exporter exploded" in enc.fallback_reason
    assert "\n" not in enc.fallback_reason


# --------------------------------------------------------------------------- equivalence


@pytest.mark.slow
def test_vectors_match_sentence_transformers(onnx_encoder: OnnxQueryEncoder, st_model) -> None:
    ours = onnx_encoder.encode(TEXTS)
    ref = st_encode(st_model, TEXTS)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cos = np.einsum("ij,ij->i", ours.astype(np.float64), ref.astype(np.float64))
    worst = int(np.argmin(cos))
    assert cos.min() >= MIN_COSINE, f"min cosine {cos.min():.8f} for {TEXTS[worst][:80]!r}"
    # one text at a time (the query path) gives the same vectors as a padded batch
    for i in (0, 1, 2, len(TEXTS) - 1):
        single = onnx_encoder.encode([TEXTS[i]])[0]
        assert float(single @ ref[i]) >= MIN_COSINE, TEXTS[i][:80]


def test_rankings_match_sentence_transformers(onnx_encoder: OnnxQueryEncoder, st_model) -> None:
    ours = onnx_encoder.encode(QUERIES) @ onnx_encoder.encode(DOCS).T
    ref = st_encode(st_model, QUERIES) @ st_encode(st_model, DOCS).T
    for i, q in enumerate(QUERIES):
        assert list(np.argsort(-ours[i], kind="stable")[:10]) == list(np.argsort(-ref[i], kind="stable")[:10]), q


def test_search_results_equal_the_sentence_transformers_fallback(real_index: Path, onnx_encoder) -> None:
    fast = Retriever.open(real_index)
    slow = Retriever.open(real_index, encoder=TorchQueryEncoder(onnx_encoder.model_dir, onnx_encoder.info))
    assert fast.encoder().path_name == "onnxruntime" and slow.encoder().path_name == "torch-fp32"
    for q in QUESTIONS:
        for mode in ("dense", "hybrid"):
            a, b = fast.search(q, k=10, mode=mode), slow.search(q, k=10, mode=mode)
            assert [h.row for h in a] == [h.row for h in b], (q, mode)
            assert [h.answer.char_start for h in a] == [h.answer.char_start for h in b], (q, mode)
            np.testing.assert_allclose([h.dense_score for h in a], [h.dense_score for h in b], atol=1e-4)


def test_query_path_with_onnx_does_not_import_torch(real_index: Path) -> None:
    code = (
        "import sys; from rag import Retriever; r = Retriever.open(sys.argv[1]); r.search('olympic security', k=3); "
        "print(r.encoder().path_name, sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    p = subprocess.run([sys.executable, "-c", code, str(real_index)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["onnxruntime", "[]"]


# --------------------------------------------------------------------------- damage


def _damages():
    def truncate(onnx, meta):
        onnx.write_bytes(onnx.read_bytes()[: onnx.stat().st_size // 3])

    def truncate_weights(onnx, meta):
        data = data_path(onnx)
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 3])

    def zero_weights(onnx, meta):  # same size: the probe tells
        data = bytearray(data_path(onnx).read_bytes())
        mid = len(data) // 2
        data[mid : mid + 4_000_000] = bytes(4_000_000)
        data_path(onnx).write_bytes(bytes(data))

    def zero_bytes(onnx, meta):  # same size: the file no longer parses
        data = bytearray(onnx.read_bytes())
        mid, n = len(data) // 2, len(data) // 4
        data[mid : mid + n] = bytes(n)
        onnx.write_bytes(bytes(data))

    def altered_weights(onnx, meta):  # a valid model that computes something else: the probe tells
        import onnx as onnx_lib

        model = onnx_lib.load(str(onnx), load_external_data=False)
        data = np.memmap(data_path(onnx), dtype=np.uint8, mode="r+")
        for init in model.graph.initializer:  # negate the feed-forward weights in place (same sizes)
            where = {e.key: e.value for e in init.external_data}
            if len(init.dims) == 2 and 1536 in init.dims and "offset" in where:
                a, n = int(where["offset"]), int(where["length"])
                data[a:a + n] = (np.frombuffer(bytes(data[a:a + n]), dtype="<f4") * -1).view(np.uint8)
        data.flush()
        del data

    def garbage_sidecar(onnx, meta):
        meta.write_text("{not json", encoding="utf-8")

    def other_weights(onnx, meta):
        m = json.loads(meta.read_text(encoding="utf-8"))
        m["weights_sha256"] = "0" * 64
        meta.write_text(json.dumps(m), encoding="utf-8")

    def onnx_gone(onnx, meta):
        onnx.unlink()

    return {"truncate": truncate, "zero-bytes": zero_bytes, "altered-weights": altered_weights, "garbage-sidecar": garbage_sidecar,
            "other-weights": other_weights, "onnx-gone": onnx_gone,
            "truncate-weights": truncate_weights, "zero-weights": zero_weights}


@pytest.mark.parametrize("damage", sorted(_damages()))
def test_damaged_export_falls_back_to_sentence_transformers_with_a_reason(work: Path, damage: str, caplog) -> None:
    onnx_path, meta_path = _paths()
    _damages()[damage](onnx_path, meta_path)
    r = Retriever.open(work)
    with caplog.at_level(logging.WARNING, logger="rag"):
        enc = r.encoder()
    records = [rec for rec in caplog.records if rec.name.startswith("rag")]
    assert len(records) == 1 and records[0].levelno == logging.WARNING, records  # one warning, on "rag"
    assert enc.fallback_reason in records[0].getMessage() and "sentence-transformers" in records[0].getMessage()
    assert isinstance(enc, TorchQueryEncoder) and enc.path_name == "torch-fp32"
    assert enc.fallback_reason and "\n" not in enc.fallback_reason and "rag index" in enc.fallback_reason
    if damage == "altered-weights":
        assert "disagrees with the model" in enc.fallback_reason
    assert r.search(QUESTIONS[0], k=1)[0].line_start == 49
    with pytest.raises(ModelError):
        load_export(enc.model_dir, enc.info)
    assert not export_is_current(enc.info)  # so the next `rag index` exports it again


def test_cli_warns_once_on_a_damaged_export_and_rag_index_repairs_it(work: Path) -> None:
    onnx_path, _ = _paths()
    onnx_path.write_bytes(onnx_path.read_bytes()[:1000])
    cwd = work.parent.parent
    ask = [sys.executable, "-m", "rag", "ask", QUESTIONS[0], "--json"]
    p = subprocess.run(ask, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["hits"][0]["line_start"] == 49
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning:") and "rag index" in lines[0], p.stderr
    p = subprocess.run([sys.executable, "-m", "rag", "status", "--json"], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert json.loads(p.stdout)["query_encoder"].startswith(
        "sentence-transformers (the ONNX export is missing or changed")
    p = subprocess.run([sys.executable, "-m", "rag", "index"], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0 and "prepared the fast query encoder" in p.stderr, p.stderr
    assert "Loading weights" not in p.stderr  # no third-party progress bar leaks into the CLI
    p = subprocess.run(ask, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert Retriever.open(work).encoder().path_name == "onnxruntime"


# --------------------------------------------------------------------------- small additions


def test_adding_a_note_embeds_with_onnx_and_never_loads_torch(real_index: Path, work: Path) -> None:
    """A handful of new passages is embedded by the exported encoder: no torch import at all."""
    seeds = work.parent.parent / "seeds"
    (seeds / "note.md").write_text("# Ice\n\nThe ice rink in Sochi seats 12,000 people.\n\n"
                                   "Skaters train there every morning.\n", encoding="utf-8")
    code = (
        "import json, sys; from rag import build_index; s = build_index(sys.argv[1], sys.argv[2]); "
        "print(json.dumps([s.encoder, s.embedded, s.reused, s.exported_query_encoder, "
        "sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules)]))"
    )
    p = subprocess.run([sys.executable, "-c", code, str(seeds), str(work)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    encoder, embedded, reused, exported, heavy = json.loads(p.stdout)
    assert (encoder, embedded, exported, heavy) == ("onnxruntime", 2, False, [])  # "# Ice" is their section
    assert reused == 36  # the seed article without its comment form (boilerplate, not indexed)
    r = Retriever.open(work)
    hit = r.search("how many seats does the ice rink have", k=1)[0]
    assert hit.source == "note.md" and hit.line_start == 3
    # the new vectors are the model's: equal to the reference encoder's
    ref = TorchQueryEncoder(r.encoder().model_dir, r.encoder().info)
    rows = [i for i, p in enumerate(r.passages) if p.source == "note.md"]
    got = np.asarray(r.vectors[rows])
    from rag.documents.headers import indexed_text

    want = ref.encode([indexed_text(r.passages[i]) for i in rows])  # embedded with the "Ice" header
    assert np.einsum("ij,ij->i", got, want).min() >= MIN_COSINE


# --------------------------------------------------------------------------- first run: in the background


def test_background_export_writes_a_checked_export_and_runs_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    info = model_info(default_model_dir())
    with ExportLock(info, wait=False) as lock:  # an exporter of this model is running: none is started
        assert lock.held and start_background_export(info) is None
    proc = start_background_export(info)
    assert proc is not None and proc.wait(timeout=600) == 0, _paths()[0].with_suffix(".log").read_text()
    assert export_is_current(info)
    enc = load_export(default_model_dir(), info)
    assert isinstance(enc, OnnxQueryEncoder)


def test_first_build_exports_without_torch_and_starts_nothing_in_the_background(
        tmp_path: Path, real_seeds: Path, monkeypatch) -> None:
    """A first run (UI, `rag ask` on a fresh clone) of a BERT model: the build exports the query
    encoder from the weights (about a second, no torch), embeds with it and answers with it; no
    detached export is started (tests/test_bert_graph.py checks that torch is never imported)."""
    from rag.embedding import encoder_cache

    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    started = []
    monkeypatch.setattr(encoder_cache, "start_background_export", lambda info: started.append(info))
    stats = build_index(real_seeds, tmp_path / "idx", export_query_encoder="background")
    assert stats.changed and stats.exported_query_encoder and stats.encoder == "onnxruntime"
    assert started == [] and export_is_current(model_info(default_model_dir()))
    r = Retriever.open(tmp_path / "idx")
    assert r.search(QUESTIONS[0], k=1)[0].line_start == 49
    assert isinstance(r.encoder(), OnnxQueryEncoder)
