"""The library leaves process-wide state alone: environment variables, BLAS thread limits, logging
handlers. Its warnings go through the ``rag`` logger, which the CLI shows as one line each."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info

from conftest import PARTICIPANTS_Q

ROOT = Path(__file__).resolve().parents[1]


def _limits() -> dict[str, int]:
    return {d["filepath"]: d["num_threads"] for d in threadpool_info()}


def _unchanged(before: dict[str, int]) -> bool:
    """The thread counts of the libraries loaded before are the same (libraries loaded since,
    e.g. faiss' own BLAS, start with their defaults)."""
    after = _limits()
    return {k: after.get(k) for k in before} == before


def _torch_encoder():
    from rag.embedding.document_encoder import TorchQueryEncoder
    from rag.embedding.model import default_model_dir, model_info

    d = default_model_dir()
    return TorchQueryEncoder(d, model_info(d))


def test_fake_build_open_search_change_nothing_global(seeds: Path, tmp_path: Path, fake_encoder) -> None:
    env, limits, handlers = dict(os.environ), _limits(), list(logging.getLogger().handlers)
    import rag

    rag.build_index(seeds, tmp_path / "index", encoder=fake_encoder)
    rag.Retriever.open(tmp_path / "index", encoder=fake_encoder).search("when do cats hunt", k=3)
    assert dict(os.environ) == env
    assert _unchanged(limits)
    assert logging.getLogger().handlers == handlers
    assert [type(h) for h in logging.getLogger("rag").handlers] == [logging.NullHandler]


@pytest.mark.e2e
def test_real_query_paths_change_no_environment_or_thread_limits(real_index: Path) -> None:
    import sentence_transformers  # noqa: F401 - importing it (sklearn, torch) sets KMP_INIT_AT_FORK and TORCHINDUCTOR_CACHE_DIR: not rag's doing

    from rag import Retriever

    env, limits = dict(os.environ), _limits()
    r = Retriever.open(real_index)  # ONNX Runtime (the build exported it)
    assert r.search(PARTICIPANTS_Q, k=3)[0].line_start == 49
    assert r.encoder().path_name == "onnxruntime"
    torch_r = Retriever.open(real_index, encoder=_torch_encoder())  # the fallback
    assert torch_r.search(PARTICIPANTS_Q, k=3, mode="dense")[0].line_start == 49
    assert dict(os.environ) == env
    assert _unchanged(limits)


@pytest.mark.slow
def test_model_loads_without_network_or_environment_changes() -> None:
    """sentence-transformers loads the model folder with the network refused and no offline
    variables set, and the process's environment is the same afterwards."""
    code = r"""
import json, os, socket
def refuse(*a, **k):
    raise OSError("the network is off in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "TOKENIZERS_PARALLELISM"):
    os.environ.pop(k, None)
before = dict(os.environ)
from rag.embedding.document_encoder import DocumentEncoder
from rag.embedding.model import default_model_dir, model_info
from rag.embedding.document_encoder import TorchQueryEncoder
v = DocumentEncoder(precision="fp32").encode(["Bread rises because yeast makes gas."])
q = TorchQueryEncoder(default_model_dir(), model_info(default_model_dir())).encode(["why does bread rise"])
import huggingface_hub.constants as hub
# scikit-learn (imported by sentence-transformers) and torch's compiler set these on import: not ours
theirs = {"KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK", "TORCHINDUCTOR_CACHE_DIR"}
changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k) and k not in theirs)
print(json.dumps({"changed": changed, "hub_offline": hub.HF_HUB_OFFLINE, "cos": float(v[0] @ q[0])}))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["changed"] == [] and out["hub_offline"] is False, out
    assert out["cos"] > 0.5, out  # a related question and passage: the model really ran


# --------------------------------------------------------------------------- logging


def test_the_library_prints_no_warning_itself(capsys) -> None:
    import rag  # noqa: F401  (installs the NullHandler)

    logging.getLogger("rag.encoder").warning("something the application may show")
    assert capsys.readouterr().err == ""


def test_cli_shows_a_library_warning_as_one_safe_line(monkeypatch, capsys) -> None:
    from rag import cli

    def status(args) -> int:
        logging.getLogger("rag.encoder").warning("export %s\nunusable \x1b[2J\x9b", "x")
        return 0

    monkeypatch.setitem(cli._COMMANDS, "status", status)
    assert cli.main(["status"]) == 0
    err = capsys.readouterr().err
    assert err == "warning: export x␊unusable ␛[2J�\n"
    assert [type(h) for h in logging.getLogger("rag").handlers] == [logging.NullHandler]  # removed after
