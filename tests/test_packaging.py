"""Declared dependencies: every one has a tested lower bound, and what is installed satisfies it."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _requirements() -> list[Requirement]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return [Requirement(r) for r in reqs]


@pytest.mark.parametrize("req", _requirements(), ids=str)
def test_dependency_has_lower_bound_that_installed_version_meets(req: Requirement) -> None:
    bounds = [s for s in req.specifier if s.operator in (">=", "==", "~=")]
    assert bounds, f"{req.name} declares no lower bound: declare the version the tests ran on"
    try:
        installed = version(req.name)
    except PackageNotFoundError:
        pytest.skip(f"{req.name} is not installed here (an optional extra)")
    assert req.specifier.contains(Version(installed), prereleases=True), (
        f"{req.name} {installed} is installed but pyproject.toml declares {req.specifier}"
    )


def test_textual_lower_bound_has_the_apis_the_ui_uses() -> None:
    # textual 0.80 (the old bound) had no textual.content; the UI imports it.
    textual = next(r for r in _requirements() if r.name == "textual")
    lower = min(Version(s.version) for s in textual.specifier if s.operator == ">=")
    assert lower >= Version("2.0"), f"textual>={lower} predates textual.content, which tui/ imports"
    import textual.content  # noqa: F401
