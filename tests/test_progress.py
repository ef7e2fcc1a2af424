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
    from rag.cli import _print_build

    stats = BuildStats(files=1, passages=47, embedded=47, encoder="numpy", exported_query_encoder=True)
    _print_build(stats)
    line = capsys.readouterr().err.strip()
    assert "prepared the fast query encoder" in line and "[passages embedded with: numpy]" in line
    assert "exported the query encoder" not in line and "[encoder:" not in line


def test_build_reports_the_export_as_a_stage(tmp_path: Path, monkeypatch):
    """build_index calls progress("exporting", ...) around the export, and only when it exports."""
    import rag.embedding.document_encoder
    from rag.embedding import onnx_encoder
    from rag.indexing.build import build_index

    exported = []

    class NoTorch:  # the export's document encoder, without loading torch
        def __init__(self, path):
            pass

        def model(self):
            return object()

        def sentence_transformer(self):
            return object()

    monkeypatch.setattr(onnx_encoder, "onnxruntime_available", lambda: True)
    monkeypatch.setattr(onnx_encoder, "export_is_current", lambda index_dir, info: bool(exported))
    monkeypatch.setattr(onnx_encoder, "export", lambda index_dir, info, model: exported.append(index_dir))
    monkeypatch.setattr(rag.embedding.document_encoder, "DocumentEncoder", NoTorch)
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
