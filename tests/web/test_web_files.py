"""The web page's files, read as files: small, shipped in the package, nothing from another site, no
way for document text to become HTML, and the words the other interfaces use (issue 25)."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from rag.service.web import CSP, WEB_DIR, page_files

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(WEB_DIR.glob("*.js"))


def test_the_page_is_small_and_every_file_is_served():
    files = page_files()
    on_disk = {f.name for f in WEB_DIR.iterdir() if f.is_file() and f.suffix != ".py"}
    assert {"/" if n == "index.html" else f"/static/{n}" for n in on_disk} == set(files)
    assert sum(len(body) for body, _ in files.values()) <= 100 * 1024


def test_every_file_of_the_page_is_package_data():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]["rag"]
    for f in WEB_DIR.iterdir():
        if f.is_file() and f.suffix != ".py":
            rel = f.relative_to(ROOT / "rag").as_posix()
            assert any(fnmatch(rel, g) for g in globs), rel


def test_nothing_comes_from_another_site_and_nothing_runs_inline():
    html = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    for f in WEB_DIR.iterdir():
        if f.suffix in (".html", ".js", ".css"):
            text = f.read_text(encoding="utf-8")
            assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", text), f.name
            assert "@import" not in text and "url(" not in text, f.name
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="/static/app.js">']
    assert not re.search(r"\sstyle\s*=|\son[a-z]+\s*=|<style\b|javascript:", html, re.IGNORECASE)
    assert "default-src 'self'" in CSP and "script-src 'self'" in CSP and "unsafe" not in CSP
    assert "frame-ancestors 'none'" in CSP


def test_document_text_is_never_inserted_as_html():
    for f in SCRIPTS:
        code = f.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                     "setAttribute(\"on", ".style.", "srcdoc", "DOMParser", "createContextualFragment"):
            assert sink not in code, (f.name, sink)


def test_the_page_says_the_verdicts_as_every_interface_does():
    from rag.search.verdict import VERDICT_TEXT

    marks = (WEB_DIR / "marks.js").read_text(encoding="utf-8")
    table = dict(re.findall(r'^\s+(\w+): "([^"]+)",$', marks.split("VERDICT_TEXT = {", 1)[1].split("};", 1)[0], re.M))
    assert table == VERDICT_TEXT
    card = (ROOT / "tui" / "widgets" / "answer_card.py").read_text(encoding="utf-8")
    for name in ("NOT_FOUND", "WEAK"):
        said = re.search(rf'^{name} = "([^"]+)"$', card, re.M).group(1)
        assert f'export const {name} = "{said}";' in marks
