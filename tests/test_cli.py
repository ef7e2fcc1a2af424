"""The `rag` command end to end, with the real model on the real seed article."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PARTICIPANTS_Q, SEED_ARTICLE
from rag.cli import main

pytestmark = pytest.mark.e2e


def rag(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    # the test cache and data folder (conftest), no other RAG_ setting
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k in ("RAG_CACHE_DIR", "RAG_DATA_DIR")}
    return subprocess.run(
        [sys.executable, "-m", "rag", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def workdir(real_index: Path) -> Path:
    """A folder laid out like a checkout: seeds/ and indexes/default/ (already built)."""
    return real_index.parent.parent


def test_participants_question_cites_line_49_first(workdir):
    p = rag("ask", PARTICIPANTS_Q, "--json", cwd=workdir)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["question"] == PARTICIPANTS_Q
    first = out["hits"][0]
    assert (first["source"], first["line_start"], first["line_end"]) == (SEED_ARTICLE.name, 49, 49)
    assert first["citation"] == f"{SEED_ARTICLE.name}:49"
    assert "1,500 participants" in first["text"]
    assert set(first) >= {"rank", "score", "source", "path", "line_start", "line_end", "paragraph", "text"}
    assert Path(first["path"]).is_file() and Path(first["path"]).is_absolute()
    assert [h["rank"] for h in out["hits"]] == list(range(1, 6))
    assert first["answer"]["text"] in first["text"]


@pytest.mark.parametrize("mode", ["dense", "bm25"])
def test_each_mode_finds_line_49(workdir, mode):
    p = rag("ask", PARTICIPANTS_Q, "--json", "--mode", mode, "-k", "3", cwd=workdir)
    assert p.returncode == 0, p.stderr
    hits = json.loads(p.stdout)["hits"]
    assert len(hits) == 3 and hits[0]["line_start"] == 49


@pytest.mark.parametrize("argv, question, k, mode", [
    (["-5 degrees in Sochi?", "--json"], "-5 degrees in Sochi?", 5, "hybrid"),
    (["--json", "-k", "2", "--", "--mode", "dense"], "--mode dense", 2, "hybrid"),
    (["Sochi", "-k3", "--mode=bm25", "--json", "--", "-x"], "Sochi -x", 3, "bm25"),
    (["-", "Sochi", "-k=2", "--json", "--?"], "- Sochi --?", 2, "hybrid"),
    (["--json", "--", "--seeds"], "--seeds", 5, "hybrid"),
])
def test_question_words_may_start_with_a_dash(workdir, argv, question, k, mode):
    p = rag("ask", *argv, cwd=workdir)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert (out["question"], out["k"], out["mode"]) == (question, k, mode)
    assert 0 < len(out["hits"]) <= k


def test_human_output_shows_rank_citation_and_text(workdir):
    p = rag("ask", PARTICIPANTS_Q, "-k", "2", cwd=workdir)
    assert p.returncode == 0, p.stderr
    # the verdict first, with its one confidence, then the ranked citations
    assert p.stdout.startswith("Answer · confidence 0.") or p.stdout.startswith("Answer · confidence 1.")
    assert f"\n\n1. {SEED_ARTICLE.name}:49\n" in p.stdout
    assert "Moscow expects around 1,500 participants" in p.stdout
    assert "\n2. " in p.stdout


def test_the_query_path_never_imports_torch(workdir):
    code = (
        "import sys, json; from rag.cli import main; rc = main(['ask', 'Sochi talks', '--json']);"
        "bad = [m for m in ('torch', 'transformers', 'sentence_transformers', 'textual') if m in sys.modules];"
        "sys.stderr.write(json.dumps(bad)); sys.exit(rc)"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stderr.strip().splitlines()[-1]) == []


def test_index_with_no_change_loads_no_model(workdir):
    code = (
        "import sys, json; from rag import build_index; s = build_index('seeds', 'indexes/default');"
        "print(json.dumps([s.changed, 'torch' in sys.modules, 'sentence_transformers' in sys.modules]))"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == [False, False, False]


def test_status_reports_contents(workdir):
    p = rag("status", "--json", cwd=workdir)
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)
    assert s["files"] == 1 and s["passages"] > 30  # the article's paragraphs, its comment-form chrome left out
    assert s["changes"] == {"added": [], "modified": [], "removed": []}
    assert s["query_encoder"] == "onnxruntime"  # the build exported the model


# Every bad input: exactly one line on stderr, no traceback, and the exit status (1 error, 2 usage).
# {file} is a regular file, {tmp} an empty scratch folder, {other} a seeds folder the index was not
# built from.
BAD = [
    (["ask", ""], 1, "question is empty"),
    (["ask", "   \t "], 1, "question is empty"),
    (["ask", "x", "-k", "0"], 2, "at least 1"),
    (["ask", "x", "-k", "many"], 2, "whole number"),
    (["ask", "x", "-k=0"], 2, "at least 1"),
    (["ask", "x", "--mode", "magic"], 2, "invalid choice"),
    (["ask", "--seeds"], 2, "--seeds needs a value"),
    (["ask", "Sochi", "--index"], 2, "--index needs a value"),
    (["ask", "Sochi", "--seeds", "--json"], 2, "--seeds needs a value"),
    (["ask", "Sochi", "--jsn"], 2, "did you mean --json?"),
    (["ask", "--jsn", "Sochi"], 2, "unknown option --jsn"),
    (["ask", "Sochi", "--x"], 2, "unknown option --x"),
    (["ask", "Sochi", "-x"], 2, "unknown option -x"),
    (["ask", "Sochi", "--mode-dense"], 2, "unknown option --mode-dense"),
    (["ask", "--json"], 2, "required: question"),
    (["ask"], 2, "required: question"),
    (["status", "--bogus"], 2, "unrecognized arguments: --bogus"),
    (["index", "--wait"], 2, "expected one argument"),
    ([], 2, "required"),
    (["ask", "x", "--index", "nowhere", "--seeds", "nothing"], 1, "no seeds folder nothing"),
    (["ask", "x", "--seeds", "nothing"], 1, "no seeds folder nothing (not found)"),
    (["ask", "x", "--seeds", "{file}"], 1, "(is not a folder)"),
    (["ask", "x", "--seeds", "{other}", "--index", "indexes/default"], 1, "was built from"),
    (["ask", "x", "--index", "{file}"], 1, "is not a folder"),
    (["ask", "x", "--index", "{file}/sub"], 1, "is not a folder"),
    (["ask", "x", "--index", "/proc/rag-xyz"], 1, "cannot create the index at /proc/rag-xyz"),
    (["status", "--index", "nowhere"], 1, "no index at nowhere"),
    (["status", "--index", "{file}"], 1, "is not a folder"),
    (["status", "--index", "/proc/rag-xyz", "--verify"], 1, "no index at /proc/rag-xyz"),
    (["index", "--seeds", "nothing", "--index", "nowhere"], 1, "seeds folder not found"),
    (["index", "--seeds", "{file}", "--index", "{tmp}/i"], 1, "not a folder"),
    (["index", "--index", "{file}"], 1, "is not a folder"),
    (["index", "--index", "/proc/rag-xyz"], 1, "cannot create the index at /proc/rag-xyz"),
    (["eval", "{tmp}"], 1, "not found"),
]


# These go through a real `python -m rag` process (its exit status and stderr); the others call
# rag.cli.main in this process, which proves the same (an exception would fail the test) in a
# fraction of the time.
BAD_IN_A_PROCESS = {"none", "ask x -k 0", "ask Sochi --jsn", "ask x --seeds nothing", "status --index nowhere"}


@pytest.mark.parametrize("args,code,words", BAD, ids=[" ".join(a) or "none" for a, _, _ in BAD])
def test_bad_input_is_one_clear_line(workdir, tmp_path, args, code, words, request, monkeypatch, capsys):
    (tmp_path / "file.txt").write_text("not a folder\n", encoding="utf-8")
    (tmp_path / "other").mkdir()
    (tmp_path / "scratch").mkdir()
    subst = {"{file}": str(tmp_path / "file.txt"), "{tmp}": str(tmp_path / "scratch"), "{other}": str(tmp_path / "other")}
    in_a_process = request.node.callspec.id in BAD_IN_A_PROCESS
    for key, value in subst.items():
        args = [a.replace(key, value) for a in args]
        words = words.replace(key, value)
    if in_a_process:
        p = rag(*args, cwd=workdir)
        got, out, err = p.returncode, p.stdout, p.stderr
    else:
        for key in [k for k in os.environ if k.startswith("RAG_") and k not in ("RAG_CACHE_DIR", "RAG_DATA_DIR")]:
            monkeypatch.delenv(key)
        monkeypatch.chdir(workdir)
        got = main(list(args))
        out, err = capsys.readouterr()
    assert got == code, (out, err)
    assert words in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert out == ""


def test_some_bad_inputs_go_through_a_real_process():
    ids = {" ".join(a) or "none" for a, _, _ in BAD}
    assert BAD_IN_A_PROCESS <= ids and {code for a, code, _ in BAD if (" ".join(a) or "none") in BAD_IN_A_PROCESS} == {1, 2}


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EIO])
def test_os_errors_are_one_line_not_a_traceback(monkeypatch, tmp_path, capsys, err):
    """What the library does not expect (a full disk mid-build, a permission denied deep down)."""
    from rag.indexing import build
    from rag.cli import main

    def fail(*a, **kw):
        raise OSError(err, os.strerror(err), str(tmp_path / "idx" / "vectors.npy"))

    monkeypatch.setattr(build, "build_index", fail)
    (tmp_path / "seeds").mkdir()
    assert main(["index", "--seeds", str(tmp_path / "seeds"), "--index", str(tmp_path / "idx")]) == 1
    line = capsys.readouterr().err
    assert line.count("\n") == 1 and line.startswith(f"rag: {os.strerror(err)} (")
    assert "vectors.npy" in line


def test_explicit_seeds_of_the_index_answers(workdir):
    p = rag("ask", "Sochi", "--seeds", "seeds", "--json", "-k", "1", cwd=workdir)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["hits"][0]["source"] == SEED_ARTICLE.name


def test_ask_hashes_no_seed_file_until_something_changed(workdir, monkeypatch, capsys):
    """The staleness check of `rag ask` stats the seeds; it reads (hashes) none while nothing changed."""
    from rag.documents import changes
    from rag.index import store
    from rag.cli import main

    read = []
    real_hash = changes.sha256_of
    monkeypatch.setattr(changes, "sha256_of", lambda p: read.append(p) or real_hash(p))
    hashed = []
    real_sha = store.sha256_file
    monkeypatch.setattr(store, "sha256_file", lambda p: hashed.append(p) or real_sha(p))
    monkeypatch.chdir(workdir)
    assert main(["ask", "Sochi", "--json", "--mode", "bm25"]) == 0
    assert read == [] and hashed == []
    seed = workdir / "seeds" / SEED_ARTICLE.name
    st = seed.stat()
    try:
        os.utime(seed, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: same content
        capsys.readouterr()
        assert main(["ask", "Sochi", "--json", "--mode", "bm25"]) == 0
        assert len(read) == 1  # the probe saw the new mtime; the exact check hashed that one file
        assert "seeds changed" not in capsys.readouterr().err
    finally:
        os.utime(seed, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_corrupt_index_is_one_line_naming_rebuild(tmp_path, real_index):
    work = tmp_path / "w"
    shutil.copytree(real_index.parent.parent, work, symlinks=True)
    version = (work / "indexes" / "default" / (work / "indexes/default/CURRENT").read_text().strip())
    segment = json.loads((version / "manifest.json").read_text())["segments"][0]["id"]
    (work / "indexes" / "default" / "segments" / segment / "vectors.npy").write_bytes(b"\0" * 64)
    p = rag("ask", "Sochi", cwd=work)
    assert p.returncode == 1
    assert "rag index --rebuild" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    p = rag("index", "--rebuild", cwd=work)
    assert p.returncode == 0, p.stderr
    assert rag("ask", "Sochi", cwd=work).returncode == 0


def test_ask_builds_missing_index_then_warns_when_seeds_change(tmp_path):
    (tmp_path / "seeds").mkdir()
    shutil.copy(SEED_ARTICLE, tmp_path / "seeds")
    p = rag("ask", PARTICIPANTS_Q, "--json", "-k", "1", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "building it" in p.stderr
    assert json.loads(p.stdout)["hits"][0]["line_start"] == 49
    (tmp_path / "seeds" / "extra.md").write_text("Olive Branch is an operation.\n", encoding="utf-8")
    p = rag("ask", "Olive Branch", cwd=tmp_path)
    assert p.returncode == 0
    assert "seeds changed since the index was built (1 added)" in p.stderr
    p = rag("index", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    stats = json.loads(p.stdout)
    assert stats["embedded"] == 1 and stats["files"] == 2
    p = rag("ask", "Olive Branch operation", "--json", "--mode", "bm25", "-k", "1", cwd=tmp_path)
    assert json.loads(p.stdout)["hits"][0]["source"] == "extra.md"


def test_every_passage_of_the_seed_article_cites_its_lines(real_retriever):
    lines = SEED_ARTICLE.read_text(encoding="utf-8").split("\n")
    assert real_retriever.passages
    for p in real_retriever.passages:
        cited = "\n".join(lines[p.line_start - 1 : p.line_end])
        assert " ".join(p.text.split()) in " ".join(cited.split()), p.citation
