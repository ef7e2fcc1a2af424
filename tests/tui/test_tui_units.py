"""The UI's pure parts: history file, Markdown forms, highlights, display paths, the app's
configuration, the remarks on a search, import cost."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hypothesis import given
from hypothesis import strategies as st
from tui_support import ROOT

from rag.types import Answer, Hit
from tui.highlight import Marks, marks_for, matched_words
from tui.history import History
from tui.transcript import Exchange, conversation_markdown, export_path, quote_markdown, short_path
from tui.config import AppConfig
from tui.controllers.chat import search_note
from tui.widgets.source_view import visible_text


def make_hit(text="Cats sleep.\nThey hunt at dawn.", rank=1, line_start=3, line_end=4) -> Hit:
    extra = {"row": 0} if "row" in Hit.__dataclass_fields__ else {}
    hit = Hit(
        **extra,
        rank=rank, score=0.5, text=text, source="notes/cats.txt", path="/x/notes/cats.txt",
        line_start=line_start, line_end=line_end, paragraph=2, char_start=100, char_end=100 + len(text),
        terms=("hunt", "dawn"),
    )
    start = text.index("They") if "They" in text else 0
    hit.answer = Answer(text[start:], 1.0, line_end, 1, line_end, len(text) - start, 100 + start, 100 + len(text))
    return hit


def test_history_keeps_order_skips_repeats_and_damage(tmp_path):
    h = History(tmp_path / "sub" / "history.jsonl", cap=3)
    for q in ["one", "two", "two", "  three  ", "", "four"]:
        h.append(q)
    assert h.load() == ["two", "three", "four"]
    with open(h.path, "ab") as f:
        f.write(b"\x00\xff not json\n{\"q\": [1]}\n{\"x\": \"y\"}\n")
    assert h.load() == ["two", "three", "four"]


def test_history_compacts_to_its_cap(tmp_path):
    h = History(tmp_path / "history.jsonl", cap=5)
    for i in range(23):
        h.append(f"question {i}")
    lines = h.path.read_text().splitlines()
    assert len(lines) <= 10
    assert h.load() == [f"question {i}" for i in range(18, 23)]
    assert all(json.loads(line)["q"] for line in lines)


def test_history_unreadable_or_absent_is_empty(tmp_path):
    assert History(tmp_path / "nope.jsonl").load() == []
    folder = tmp_path / "a-folder.jsonl"
    folder.mkdir()
    assert History(folder).load() == []
    assert History(None).load() == []
    History(None).append("nothing happens")


def test_quote_markdown_quotes_every_line_and_cites():
    hit = make_hit()
    assert quote_markdown(hit) == "> Cats sleep.\n> They hunt at dawn.\n>\n> — `notes/cats.txt:3-4`\n"


def test_conversation_markdown_has_every_answer_and_citation(tmp_path):
    hits = [make_hit(), make_hit("Dogs bark.", 2, 9, 9)]
    hits[0].confidence, hits[1].confidence = 0.81, 0.3
    done = Exchange(1, "When do cats hunt?", "hybrid", 5, hits=hits)
    failed = Exchange(2, "Anything?", "bm25", 3, error="no index to search")
    empty = Exchange(3, "the of", "bm25", 3, hits=[], note="Only common words")
    weak_hits, lost_hits = [make_hit()], [make_hit()]
    weak_hits[0].confidence, lost_hits[0].confidence = 0.3, 0.05
    weak = Exchange(4, "Do cats hunt rats?", "hybrid", 5, hits=weak_hits)
    lost = Exchange(5, "Who won the match?", "hybrid", 5, hits=lost_hits)
    md = conversation_markdown([done, failed, empty, weak, lost], "indexes/default", "1 file", "2026-01-01 10:00")
    assert md.startswith("# rag conversation\n")
    assert "## 1. When do cats hunt?" in md
    # what each card said: its verdict and its one confidence, then the answer sentence where shown
    assert "**Answer · confidence 0.81**\n\n> They hunt at dawn. (`notes/cats.txt:4`)" in md
    assert "1. `notes/cats.txt:3-4`\n" in md and "2. `notes/cats.txt:9`\n" in md
    assert "   > They hunt at dawn." in md
    part4, part5 = md.split("## 4.")[1].split("## 5.")
    assert "**May not answer this · confidence 0.30**" in part4 and "> They hunt at dawn. (" in part4
    assert "**Not in your documents · confidence 0.05**" in part5 and "> They hunt at dawn. (" not in part5
    assert "**Answer" not in part4 + part5
    assert "_No answer: no index to search_" in md and "_Only common words_" in md
    first = export_path(tmp_path, "20260101-100000")
    first.write_text(md)
    assert export_path(tmp_path, "20260101-100000").name == "rag-conversation-20260101-100000-2.md"


def test_marks_find_stemmed_words_and_the_answer():
    hit = make_hit("Cats sleep.\nThey hunted at Dawn, hunting.")
    marks = marks_for(hit)
    words = [hit.text[s:e] for s, e in marks.words]
    assert words == ["hunted", "Dawn", "hunting"]
    assert marks.answer is not None and hit.text[slice(*marks.answer)] == "They hunted at Dawn, hunting."
    a0 = marks.answer[0]
    assert [hit.text[a0 + s : a0 + e] for s, e in marks.in_answer()] == words
    assert matched_words("anything", ()) == []
    assert Marks().in_answer() == ()


@given(st.text(max_size=200))
def test_matched_words_are_spans_of_the_text(text):
    for s, e in matched_words(text, ("hunt", "dawn", "x")):
        assert 0 <= s < e <= len(text)


def test_visible_text_keeps_offsets_and_hides_control_characters():
    line = "a\x1b[31mred\x07\tb\x9b"
    shown = visible_text(line)
    assert len(shown) == len(line)
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown and "\t" in shown


def test_short_path_shortens_only_when_needed(tmp_path):
    assert short_path(tmp_path / "indexes" / "default", cwd=tmp_path) == "indexes/default"
    assert short_path("/srv/idx", cwd=tmp_path) == "/srv/idx"  # short: whole, no ellipsis
    assert short_path("/elsewhere/deep/indexes/default", cwd=tmp_path) == "/elsewhere/deep/indexes/default"
    long = "/elsewhere/very/deep/down/in/the/tree/indexes/default"
    assert short_path(long, cwd=tmp_path) == "…/indexes/default"


def test_settings_file_round_trip_and_damage(tmp_path):
    from tui.settings import Settings, load_settings, save_settings

    default = Settings("hybrid", 5)
    path = tmp_path / "settings.json"
    assert load_settings(path, default, ("hybrid", "dense"), 50) == default  # no file yet
    save_settings(path, Settings("dense", 9))
    assert load_settings(path, default, ("hybrid", "dense"), 50) == Settings("dense", 9)
    path.write_text('{"mode": "nonsense", "k": 99}', encoding="utf-8")
    assert load_settings(path, default, ("hybrid", "dense"), 50) == default
    path.write_bytes(b"\xff not json")
    assert load_settings(path, default, ("hybrid", "dense"), 50) == default


def test_config_fills_in_paths_and_labels_from_the_index_and_is_frozen(tmp_path):
    index, seeds = tmp_path / "indexes" / "default", tmp_path / "notes"
    c = AppConfig(index, seeds)
    assert (c.history_path, c.export_dir, c.settings_path) == (
        index / "history.jsonl", index / "exports", index / "settings.json")
    assert c.index_label.endswith("indexes/default") and c.seeds_label.endswith("notes/")
    assert c.where == f"{c.seeds_label} → {c.index_label}"
    assert AppConfig(str(index), str(seeds), remember_settings=False).settings_path is None
    given_ = AppConfig(index, seeds, history_path=tmp_path / "h.jsonl", index_label="", seeds_label="s/")
    assert (given_.history_path, given_.index_label, given_.seeds_label) == (tmp_path / "h.jsonl", "", "s/")
    assert isinstance(AppConfig(str(index), str(seeds)).index, Path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.watch = True


def test_search_note_says_how_a_question_was_read_or_why_passages_may_not_fit():
    first = Exchange(1, "who leads them", "hybrid", 5)
    follow = Exchange(2, "who leads them", "hybrid", 5, history=("the team?",), shown=("The team is led by Ann.",))
    unshown = dataclasses.replace(follow, shown=(None,))
    assert search_note(follow, True, True, False) == (
        "Read as a follow-up: searched with the earlier questions and the last answer shown.")
    assert search_note(unshown, True, True, True) == "Read as a follow-up: searched with the earlier questions."
    assert search_note(first, True, True, False) is None  # nothing earlier to read it with
    assert "meaning alone" in search_note(follow, False, True, True)  # nothing found: not read as a follow-up
    assert "bm25 has nothing to match" in search_note(dataclasses.replace(first, mode="bm25"), False, False, True)
    assert search_note(first, False, False, False).startswith("No passage contains these words.")
    assert search_note(first, True, False, False) is None


def test_importing_the_app_is_cheap():
    """The first frame must not wait for numpy, faiss or the model: they load in workers."""
    code = (
        "import sys, json, time; t = time.perf_counter(); import tui.app, tui.__main__; "
        "print(json.dumps([time.perf_counter() - t, sorted(sys.modules)]))"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    seconds, mods = json.loads(p.stdout.strip().splitlines()[-1])
    for heavy in ("numpy", "faiss", "torch", "bm25s", "rag.search.retriever", "rag.indexing.build", "sentence_transformers"):
        assert heavy not in mods, heavy


def test_python_m_tui_help():
    p = subprocess.run([sys.executable, "-m", "tui", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0 and "--index" in p.stdout and "--seeds" in p.stdout


# That rag/ never imports tui/ (nor textual) is checked in tests/test_import_hygiene.py.




def test_load_source_reads_the_cited_page_through_the_reader(tmp_path, monkeypatch):
    """The source view shows the lines its reader gives (the cited page of a paged format), not
    the raw file re-decoded."""
    from rag.documents.document import Block, Document
    from rag.documents.readers import register, registry
    from rag.documents.readers.base import Reader
    from tui.highlight import load_source

    class PagedReader(Reader):  # pages separated by form feeds, as a PDF reader might hand them over
        name = "paged"
        extensions = (".pg",)

        def parse(self, source: str, data: bytes) -> Document:
            pages = data.decode("utf-8").split("\f")
            text = "\n".join(pages)
            starts, at = [], 0
            for page in pages:
                starts.append(at)
                at += len(page) + 1
            return Document(source, text, [Block(0, len(text))], page_starts=tuple(starts))

    monkeypatch.setattr(registry, "_READERS", dict(registry._READERS))
    register(PagedReader())
    path = tmp_path / "doc.pg"
    path.write_text("first page line\nanother\fsecond page top\nthey hunt at dawn", encoding="utf-8")
    hit = Hit(
        row=0, rank=1, score=1.0, text="they hunt at dawn", source="doc.pg", path=str(path),
        line_start=2, line_end=2, paragraph=1, char_start=0, char_end=0, page=2, terms=("hunt",),
    )
    doc = load_source(hit, context=5)
    assert doc.lines == ["second page top", "they hunt at dawn"]
    assert not doc.stale and doc.words[2] == [(5, 9)]
