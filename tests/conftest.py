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


@pytest.fixture(scope="session", autouse=True)
def _rag_cache_dir(tmp_path_factory):
    """Exports of the query encoder go to a temporary user cache, never the real home folder. One
    cache for the session (subprocesses inherit it), so the real model is exported once; tests
    that damage an export point RAG_CACHE_DIR at their own copy."""
    old = {k: os.environ.get(k) for k in ("RAG_CACHE_DIR", "RAG_DATA_DIR")}
    os.environ["RAG_CACHE_DIR"] = str(tmp_path_factory.mktemp("rag-cache"))
    # Indexes of folders given without --index go to the user's data folder: a temporary one here.
    os.environ["RAG_DATA_DIR"] = str(tmp_path_factory.mktemp("rag-data"))
    yield Path(os.environ["RAG_CACHE_DIR"])
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    """A small seeds folder of three documents."""
    d = tmp_path / "seeds"
    d.mkdir()
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
    """Print what the fault suite tried (quoted in the README's Reliability section)."""
    mod = sys.modules.get("test_faults")
    if mod is not None and getattr(mod, "COUNTS", None):
        counts = ", ".join(f"{k}={v}" for k, v in sorted(mod.COUNTS.items()))
        terminalreporter.write_line(f"fault suite: {counts}")
