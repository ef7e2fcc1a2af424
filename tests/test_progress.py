"""The build's progress names every step, the encoder export included (issue 9, item 13)."""

from __future__ import annotations

import io
from pathlib import Path

from rag.progress import ProgressBar
from rag.types import BuildStats


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_says_the_query_encoder_is_being_prepared():
    out = Tty()
    bar = ProgressBar(out, min_interval=0)
    bar("writing", 1, 1)
    bar("exporting", 0, 1)
    during = out.getvalue()
    bar("exporting", 1, 1)
    bar.close()
    assert "preparing the fast query encoder" in during.splitlines()[-1]
    assert out.getvalue().rstrip().endswith("done")


def test_summary_and_cli_line_do_not_contradict_each_other(capsys):
    from rag.cli.index import print_build as _print_build

    stats = BuildStats(files=1, passages=47, embedded=47, encoder="onnxruntime", exported_query_encoder=True)
    _print_build(stats)
    line = capsys.readouterr().err.strip()
    assert "prepared the fast query encoder" in line and "[passages embedded with: onnxruntime]" in line
    assert "exported the query encoder" not in line and "[encoder:" not in line


def test_build_reports_the_export_as_a_stage(tmp_path: Path, monkeypatch):
    """build_index calls progress("exporting", ...) around the export, and only when it exports."""
    import rag.embedding.document_encoder
    from rag.embedding import encoder_cache, onnx_encoder, onnx_export
    from rag.indexing.build import build_index

    import numpy as np

    from rag.embedding.model import default_model_dir, model_info

    exported = []
    info = model_info(default_model_dir())

    class NoTorch:  # the build's document encoder, without loading torch
        path_name = "no-torch"

        def __init__(self, path):
            self.info = info

        def sentence_transformer(self):
            return object()

        def encode(self, texts, progress=None, cancel=None):
            v = np.zeros((len(texts), info.dim), dtype=np.float32)
            v[:, 0] = 1
            return v

    monkeypatch.setattr(onnx_encoder, "load_export", lambda model_dir, info: None)
    monkeypatch.setattr(encoder_cache, "export_is_current", lambda info: bool(exported))
    monkeypatch.setattr(onnx_encoder, "export_without_torch", lambda info: None)  # as for a model bert_graph does not build
    monkeypatch.setattr(onnx_export, "export", lambda info, model=None: exported.append(info))
    monkeypatch.setattr(rag.embedding.document_encoder, "shared_document_encoder", NoTorch)
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.txt").write_text("Cats hunt at dawn.\n", encoding="utf-8")
    stages: list[tuple[str, int, int]] = []
    stats = build_index(seeds, tmp_path / "index", progress=lambda s, d, t: stages.append((s, d, t)))
    assert stats.exported_query_encoder and len(exported) == 1
    names = [s for s, _, _ in stages]
    assert names[-2:] == ["exporting", "exporting"] and stages[-2:] == [("exporting", 0, 1), ("exporting", 1, 1)]
    assert names.index("exporting") > names.index("writing")
    stages.clear()
    build_index(seeds, tmp_path / "index", progress=lambda s, d, t: stages.append((s, d, t)))  # nothing to export
    assert "exporting" not in [s for s, _, _ in stages]
