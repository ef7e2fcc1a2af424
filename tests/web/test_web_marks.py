"""The page's own logic run in Chromium (no server, no model: the files are served by Playwright's
router) and checked against the Python the other interfaces use: the verdict line, the characters
shown visibly instead of acting, and the words marked as matched (issue 25)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from web.web_helpers import SEED_ARTICLE
from rag.service.web import page_files

pytestmark = pytest.mark.slow

ORIGIN = "http://page.test"
QUESTIONS = [
    "How many participants and observers are expected in Sochi?",
    "Why does Washington want regime change in Syria?",
    "What did the Kurdish militia say about the negotiations?",
    "Which countries destroyed their stockpiles of chemical weapons?",
    "Who is the political and media advisor of Assad?",
    "What does the author say about his newest book?",
]


@pytest.fixture(scope="module")
def marks(browser):
    files = page_files()
    ctx = browser.new_context()
    page = ctx.new_page()
    page.set_default_timeout(120_000)

    def serve(route):
        path = route.request.url[len(ORIGIN):].split("?", 1)[0]
        body, media = files.get(path, (b"<!doctype html><title>test</title>", "text/html; charset=utf-8"))
        route.fulfill(status=200, body=body, headers={"Content-Type": media})

    page.route(ORIGIN + "/**", serve)
    page.goto(ORIGIN + "/blank")
    yield page
    ctx.close()


def js(page, expression: str, arg):
    return page.evaluate(f"async (arg) => {{ const m = await import('/static/marks.js'); return {expression}; }}", arg)


def test_the_verdict_line_is_the_one_every_interface_says(marks):
    from rag.search.verdict import verdict_line

    for verdict, confidences in {"answer": [0.5, 0.87, 0.999, 1.0], "weak": [0.2999, 0.3, 0.4999],
                                 "not_found": [0.0, 0.009, 0.29, 0.1]}.items():
        for c in confidences:
            expected = verdict_line([SimpleNamespace(confidence=c)])
            if expected.split(" · ")[0] != {"answer": "Answer", "weak": "May not answer this"}.get(verdict, "Not in your documents"):
                continue  # the thresholds are the server's business; the words and the figure are the page's
            assert js(marks, "m.verdictLine(arg[0], arg[1])", [verdict, c]) == expected, (verdict, c)
    assert js(marks, "m.verdictLine('not_found', null)", None) == "Not in your documents"


def test_characters_that_could_act_are_shown_as_the_terminal_shows_them(marks):
    from rag.terminal_text import terminal_safe

    text = "a\x00b\x1b[31mc\td\ne\x7ff\x9bg\u202eh\u2066i\u2069j\u202ck" + "".join(map(chr, range(0x20)))
    assert js(marks, "m.shown(arg)", text) == terminal_safe(text)


def test_the_words_marked_are_the_words_the_chat_marks(marks):
    from rag.documents.tokens import query_terms
    from tui.highlight import matched_words

    lines = [line for line in SEED_ARTICLE.read_text(encoding="utf-8").split("\n") if line.strip()]
    agree = page_only = chat_only = 0
    for q in QUESTIONS:
        terms = query_terms(q)
        page_spans = js(marks, "arg[0].map((line) => m.matchedWords(line, arg[1]))", [lines, terms])
        for line, spans in zip(lines, page_spans):
            mine = {tuple(s) for s in spans}
            chat = set(matched_words(line, terms))
            agree += len(mine & chat)
            page_only += len(mine - chat)
            chat_only += len(chat - mine)
    # The page has no Snowball stemmer (marks.js: a stem and an English ending): nearly always the same.
    assert agree >= 50
    assert page_only <= 0.1 * agree and chat_only <= 0.05 * agree, (agree, page_only, chat_only)


def test_the_live_index_shows_an_update_in_progress_and_a_new_version(marks):
    shown = marks.evaluate("""async () => {
      document.body.replaceChildren();
      for (const id of ["index-status", "index-detail"]) {
        const d = document.createElement("div"); d.id = id; document.body.append(d);
      }
      const { LiveIndex } = await import('/static/status.js');
      const versions = [];
      const live = new LiveIndex({ onNeedsToken: () => {}, onNewVersion: (st) => versions.push(st.version) });
      const base = { files: 2, passages: 37, version: "v-1", skipped: {}, watch: { state: "watching" },
                     changes: { added: ["new <b>.txt"], modified: [], removed: [] } };
      live.show({ ...base, update: { state: "updating", stage: "embedding", done: 3, total: 10 } });
      const bar = document.querySelector("#index-status progress");
      const during = { line: document.getElementById("index-status").textContent,
                       detail: document.getElementById("index-detail").textContent,
                       value: bar && bar.value, max: bar && bar.max };
      live.show({ ...base, files: 3, version: "v-2", changes: { added: [], modified: [], removed: [] },
                  update: { state: "idle", last_summary: "indexed 1 file" } });
      return { during, after: document.getElementById("index-status").textContent,
               detail: document.getElementById("index-detail").textContent, versions,
               bold: document.querySelectorAll("b").length };
    }""")
    d = shown["during"]
    assert "2 files, 37 passages · version v-1" in d["line"] and "updating: embedding 3/10" in d["line"]
    assert (d["value"], d["max"]) == (3, 10)
    assert "1 added (new <b>.txt)" in d["detail"] and "watch: watching" in d["detail"]
    assert "3 files" in shown["after"] and "updating" not in shown["after"]
    assert "last update: indexed 1 file" in shown["detail"]
    assert shown["versions"] == ["v-2"] and shown["bold"] == 0
