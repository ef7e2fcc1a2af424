"""The cheap paths of a cold `rag ask` (issue 10, cold-ask target) give what the paths they replace
give: numpy's exact search of a flat segment equals FAISS's IndexFlatIP (with deleted rows),
and the query encoder's own truncation over the shared tokenizer equals the tokenizer's truncation."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embedding.model import default_model_dir, model_info, word_pieces
from rag.index.segments import _numpy_flat_search


@pytest.mark.parametrize("rows,n,deleted,asked", [(47, 10, [], 3), (300, 10, [0, 5, 17, 299], 3),
                                                  (5000, 50, list(range(0, 900, 3)), 3), (12, 12, [3], 3),
                                                  (300, 150, [7], 100), (40, 40, [], 3), (20_000, 10, [1], 3)])
def test_numpy_flat_search_equals_faiss_flat(rows, n, deleted, asked):
    import faiss

    rng = np.random.default_rng(rows)
    vecs = rng.standard_normal((rows, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    vecs[7 % rows] = vecs[1 % rows]  # an exact tie (FAISS orders ties as its heap leaves them)
    queries = np.vstack([vecs[1 % rows], rng.standard_normal((asked, 384)).astype(np.float32)])
    deleted = np.asarray(deleted, dtype=np.int64)
    n = min(n, rows - len(deleted))
    index = faiss.IndexFlatIP(384)
    index.add(vecs)
    params = faiss.SearchParameters()
    params.sel = faiss.IDSelectorNot(faiss.IDSelectorBatch(deleted)) if len(deleted) else None
    ref_scores, ref_rows = index.search(queries, n, params=params) if len(deleted) else index.search(queries, n)
    scores, got = _numpy_flat_search(vecs, queries, n, deleted)
    assert got.dtype == np.int64 and got.shape == ref_rows.shape
    tie = {1 % rows, 7 % rows}
    for g, r in zip(got, ref_rows):  # equal, except that tied rows may come in either order
        same = [a == b or {a, b} <= tie for a, b in zip(g.tolist(), r.tolist())]
        assert all(same), (g, r)
    assert got[0][0] == min(tie - set(deleted.tolist()))  # ties by row here
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-4)  # questions of norm ~20
    assert not set(got.ravel()) & set(deleted.tolist())


LONG = " ".join(["mitochondrial dysfunction in aged neurons drives inflammation"] * 60)


@pytest.mark.parametrize("text", ["", "a", "Ökonomie, café & naïve résumé", "量子 " * 400, LONG, "x" * 5000])
def test_query_truncation_equals_the_tokenizers_own(text):
    from tokenizers import Tokenizer

    from rag.embedding.onnx_session import OnnxQueryEncoder

    d = default_model_dir()
    info = model_info(d)
    ref = Tokenizer.from_file(str(d / "tokenizer.json"))
    ref.no_padding()
    ref.enable_truncation(max_length=info.max_tokens)
    enc = OnnxQueryEncoder.__new__(OnnxQueryEncoder)  # only the tokenizing half
    enc.info = info
    enc._tokenizer = word_pieces(str(d)).tokenizer
    enc._specials = enc._tokenizer.num_special_tokens_to_add(False)
    got, want = enc.tokenize(text), ref.encode(text)
    assert got.ids == want.ids and got.attention_mask == want.attention_mask
    assert len(got.ids) <= info.max_tokens


def test_static_vectors_share_the_tokenizer_and_leave_it_untruncated():
    from rag.embedding.static_vectors import StaticVectors

    d = default_model_dir()
    sv = StaticVectors.load(d)
    assert sv.tokenizer is word_pieces(str(d)).tokenizer
    assert sv.tokenizer.truncation is None and sv.tokenizer.padding is None


# ----------------------------------------------------------------------------- work of a cold ask
# What a cold `rag ask` does, counted (never timed): the query encoder is loaded once, in the
# warm-up thread, with one intra-op thread and one tokenizer parse; listing the readers' extensions
# (the staleness probe) imports no reader; the word-embedding table is mapped without safetensors.

import json
import os
import subprocess
import sys
import threading

from conftest import PARTICIPANTS_Q


def _python(code: str, cwd=None) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd,
                       env={**os.environ})
    assert p.returncode == 0, p.stderr[-2000:]
    return p


COUNTING_ASK = r"""
import io, json, sys, threading
from contextlib import redirect_stdout
import onnxruntime as ort
import rag.embedding.model as model

made = []
Session = ort.InferenceSession
def counted(path, so=None, *a, **k):
    made.append({"thread": threading.current_thread().name, "threads": so.intra_op_num_threads})
    return Session(path, so, *a, **k)
ort.InferenceSession = counted
parses = []
Pieces = model.WordPieces
class CountedPieces(Pieces):
    def __init__(self, d):
        parses.append(threading.current_thread().name)
        super().__init__(d)
model.WordPieces = CountedPieces

from rag.cli import main
out = io.StringIO()
with redirect_stdout(out):
    rc = main(["ask", sys.argv[1], "--index", sys.argv[2], "--json", "-k", "3"])
for t in threading.enumerate():
    if t is not threading.main_thread():
        t.join()
print(json.dumps({"rc": rc, "answer": json.loads(out.getvalue()), "sessions": made, "parses": parses}))
"""


@pytest.mark.e2e
def test_cold_ask_loads_the_encoder_once_in_the_warmup_thread_and_answers_as_before(real_index):
    from rag import Retriever

    p = subprocess.run([sys.executable, "-c", COUNTING_ASK, PARTICIPANTS_Q, str(real_index)], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["rc"] == 0
    assert got["sessions"] == [{"thread": "rag-query-encoder", "threads": 1}]  # once, off the main thread
    assert len(got["parses"]) == 1  # the tokenizer: one parse, shared by the encoder and the static vectors
    # the same answer as a retriever that loads its encoder itself (default threads, no warm-up)
    r = Retriever.open(real_index)
    want = json.loads(json.dumps(r.ask(PARTICIPANTS_Q, k=3, history=[]).to_dict()))
    assert got["answer"] == want


def test_listing_reader_extensions_imports_no_reader():
    code = ("import sys\nfrom rag.documents.freshness import seeds_may_have_changed\n"
            "from rag.documents.readers import extensions\nassert extensions()\n"
            "print(sorted(m for m in sys.modules if m.startswith('rag.documents')))")
    mods = _python(code).stdout
    for name in ("readers.base", "readers.text", "readers.markdown", "readers.html", "readers.docx", "readers.pdf",
                 "readers.budget", "chunking", "boilerplate"):
        assert f"rag.documents.{name}'" not in mods, mods


def test_a_lazily_registered_reader_loads_once_for_all_its_extensions(monkeypatch):
    from rag.documents.readers import extensions, find_reader, register_lazy, registry

    monkeypatch.setattr(registry, "_READERS", dict(registry._READERS))
    register_lazy("rag.documents.readers.html:HtmlReader", (".htm", ".html"))
    assert isinstance(registry._READERS[".htm"], str)
    a, b = find_reader("x.HTM"), find_reader("y.html")
    assert a is b and type(a).__name__ == "HtmlReader"
    assert ".htm" in extensions()
    register_lazy("rag.documents.readers.html:HtmlReader", (".xhtml",))  # not what the reader declares
    with pytest.raises(ValueError, match="registered for"):
        find_reader("z.xhtml")
    with pytest.raises(ValueError, match="lower case"):
        register_lazy("rag.documents.readers.html:HtmlReader", (".HTML",))


def test_every_registered_reader_declares_the_extensions_it_is_registered_for():
    from rag.documents.readers import extensions, find_reader

    for ext in extensions():
        assert ext in find_reader("file" + ext).extensions


def test_word_pieces_parses_once_when_threads_ask_together(monkeypatch):
    import rag.embedding.model as model

    parses = []

    class Counted(model.WordPieces):
        def __init__(self, d):
            parses.append(d)
            super().__init__(d)

    monkeypatch.setattr(model, "WordPieces", Counted)
    model._word_pieces.cache_clear()
    try:
        d = str(default_model_dir())
        start = threading.Barrier(6)
        got = []

        def ask():
            start.wait()
            got.append(model.word_pieces(d))

        threads = [threading.Thread(target=ask) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(parses) == 1 and len(got) == 6 and all(g is got[0] for g in got)
    finally:
        model._word_pieces.cache_clear()


def test_word_embeddings_are_mapped_without_safetensors_and_equal_its_tensor():
    from safetensors import safe_open

    from rag.embedding.static_vectors import load_word_embeddings

    d = default_model_dir()
    code = ("import sys\nfrom rag.embedding.static_vectors import load_word_embeddings\n"
            f"w = load_word_embeddings(__import__('pathlib').Path({str(d)!r}))\n"
            "print(w.flags.owndata, w.flags.writeable, 'safetensors' in sys.modules)")
    assert _python(code).stdout.split() == ["False", "False", "False"]  # a read-only map, no safetensors
    word = load_word_embeddings(d)
    with safe_open(str(d / "model.safetensors"), framework="np") as f:
        key = next(k for k in f.keys() if k.endswith("embeddings.word_embeddings.weight"))
        np.testing.assert_array_equal(word, f.get_tensor(key))
