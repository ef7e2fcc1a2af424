"""Shared fixtures: a fake encoder for unit tests, and one real-model index per session."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED_ARTICLE = ROOT / "seeds" / "000_696ac6e15c916e66.txt"
PARTICIPANTS_Q = "How many participants and observers are expected in Sochi?"

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Keep the test modules' compiled (assertion-rewritten) bytecode in tests/__pycache__ (git-ignored)
# even where PYTHONDONTWRITEBYTECODE is set, as `make install` compiles rag/ and tui/: otherwise
# every run compiles every test module again, several seconds of a `make test-fast`.
sys.dont_write_bytecode = False
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from fakes import FakeEncoder  # noqa: E402
from hypothesis import settings  # noqa: E402

# Hypothesis: CI (CI=true, as CI services set it) runs a fixed, derandomized set of examples and keeps
# no example database between runs, so a result never depends on luck or on an earlier run; local
# runs keep exploring new examples (and replay the failures saved in .hypothesis/, which git ignores).
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("dev")
settings.load_profile("ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev")


def _temporary_env(name: str, folder: Path):
    """``$name`` set to ``folder`` for the session (subprocesses inherit it), put back after."""
    old = os.environ.get(name)
    os.environ[name] = str(folder)
    yield folder
    if old is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = old


@pytest.fixture(scope="session", autouse=True)
def _rag_cache_dir(tmp_path_factory):
    """Exports of the query encoder go to a temporary user cache, never the real home folder. One
    cache for the session (subprocesses inherit it), so the real model is exported once; tests
    that damage an export point RAG_CACHE_DIR at their own copy."""
    yield from _temporary_env("RAG_CACHE_DIR", tmp_path_factory.mktemp("rag-cache"))


@pytest.fixture(scope="session", autouse=True)
def _rag_data_dir(tmp_path_factory):
    """A folder's own index (`rag ask --seeds DIR` without --index) goes under a temporary data
    folder, never the user's ~/.local/share/rag; subprocesses inherit it."""
    yield from _temporary_env("RAG_DATA_DIR", tmp_path_factory.mktemp("rag-data"))


@pytest.fixture(autouse=True)
def _real_model_only_in_e2e(request, monkeypatch):
    """A test that runs the real model (sentence-transformers, an ONNX Runtime session on its
    export, or the graph built from its weights) must be marked e2e: elsewhere such a load fails
    the test, so that `-m "not e2e and not slow"` stays the fast unit tests on the fake encoder.
    (Reading the model folder's config, tokenizer or word-vector table is allowed: it runs nothing.)"""
    if request.node.get_closest_marker("e2e") is not None:
        yield
        return
    import rag.embedding.bert_graph as bert_graph
    import rag.embedding.document_encoder as document_encoder
    import rag.embedding.onnx_session as onnx_session
    from rag.embedding.model import default_model_dir

    real = default_model_dir()
    loads: list[str] = []

    def guard(what: str, fn, model_dir_of):
        def guarded(*args, **kwargs):
            if Path(model_dir_of(*args, **kwargs)).resolve() == real:
                loads.append(what)
                raise AssertionError(f"{what} loads the real model: mark the test e2e")
            return fn(*args, **kwargs)
        return guarded

    monkeypatch.setattr(document_encoder, "_load_sentence_transformer",
                        guard("sentence-transformers", document_encoder._load_sentence_transformer, lambda d, *a, **k: d))
    monkeypatch.setattr(bert_graph, "_load_weights", guard("the BERT graph", bert_graph._load_weights, lambda d: d))
    monkeypatch.setattr(onnx_session.OnnxQueryEncoder, "__init__",
                        guard("ONNX Runtime", onnx_session.OnnxQueryEncoder.__init__, lambda self, path, d, *a, **k: d))
    yield
    assert not loads, f"{request.node.nodeid} loads the real model ({', '.join(sorted(set(loads)))}): mark it e2e"


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    """A small seeds folder of three documents."""
    return write_seeds(tmp_path / "seeds")


def write_seeds(d: Path) -> Path:
    """The three documents of the ``seeds`` fixture, written into the new folder ``d``."""
    d.mkdir(parents=True)
    (d / "cats.txt").write_text(
        "All about cats.\n\nCats sleep for most of the day.\nThey hunt at dawn and dusk.\n\nA cat purrs when content.\n",
        encoding="utf-8",
    )
    (d / "notes").mkdir()
    (d / "notes" / "ships.md").write_text(
        "# Ships\n\nThe harbour holds forty ships in winter.\n\nSailors repair the hulls in spring.\n",
        encoding="utf-8",
    )
    (d / "bread.txt").write_text("Bread rises because yeast makes gas.\n", encoding="utf-8")
    return d


@pytest.fixture(scope="session")
def real_seeds(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("real") / "seeds"
    d.mkdir()
    shutil.copy(SEED_ARTICLE, d / SEED_ARTICLE.name)
    return d


@pytest.fixture(scope="session")
def real_index(real_seeds: Path) -> Path:
    """The seed article indexed once with the real model, shared by the end-to-end tests."""
    from rag import build_index

    index = real_seeds.parent / "indexes" / "default"
    build_index(real_seeds, index)
    return index


@pytest.fixture(scope="session")
def real_retriever(real_index: Path):
    from rag import Retriever

    return Retriever.open(real_index)


def pytest_terminal_summary(terminalreporter):
    """Print what the fault suite tried (quoted in docs/reliability.md)."""
    mod = sys.modules.get("test_faults")
    if mod is not None and getattr(mod, "COUNTS", None):
        counts = ", ".join(f"{k}={v}" for k, v in sorted(mod.COUNTS.items()))
        terminalreporter.write_line(f"fault suite: {counts}")
