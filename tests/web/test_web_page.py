"""The web page of `rag serve` in a real browser (headless Chromium) against a real server with the
real model: ask, read the card, open a citation, ask a follow-up, export, see an update land; and
a hostile seed file that executes nothing and is shown as text (issue 25)."""

from __future__ import annotations

import json

import httpx
import pytest

from web.web_helpers import SEED_ARTICLE, WAIT_MS, serving_rag

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

QUESTION = "How many participants and observers are expected in Sochi?"
VERDICTS = ("Answer", "May not answer this", "Not in your documents")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`rag serve --watch` on the seed article and the hostile seed."""
    with serving_rag(tmp_path_factory.mktemp("web"), "--watch") as s:
        yield s


def ask(page, question: str) -> object:
    """Type ``question``, press Enter, wait for its card; returns the card's locator."""
    n = page.locator("#log article").count() + 1
    page.fill("#question", question)
    page.press("#question", "Enter")
    card = page.locator(f"#card-{n}")
    card.locator("xpath=self::*[@data-state='done']").wait_for()
    return card


def search_json(server, body: dict) -> dict:
    r = httpx.post(server.url + "/search", json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def test_ask_read_the_card_open_the_citation_and_follow_up(server, new_page):
    w = new_page(server.url)
    page = w.page
    page.goto(server.url + "/")
    assert page.locator("#log").get_attribute("role") == "log"
    assert page.locator("#log").get_attribute("aria-live") == "polite"
    page.locator("#index-status", has_text="passages").wait_for()

    card = ask(page, QUESTION)
    expected = search_json(server, {"question": QUESTION, "k": 5, "mode": "hybrid"})
    top = expected["hits"][0]
    verdict = card.locator(".verdict").inner_text()
    assert verdict.startswith(VERDICTS[("answer", "weak", "not_found").index(expected["verdict"])])
    assert expected["verdict"] == "answer" and verdict.startswith("Answer · confidence 0.")
    cites = card.locator(".passage .cite").all_inner_texts()
    assert cites == [h["citation"] for h in expected["hits"]]
    assert top["source"] == SEED_ARTICLE.name
    assert card.locator(".answer-sentence").inner_text().startswith(" ".join(top["answer"]["text"].split()))
    assert card.locator(".answer-sentence .cite").inner_text() == top["answer"]["citation"]
    assert card.locator(".passage").first.locator("mark.answer").count() == 1  # the sentence, inside its passage
    marked = [m.lower() for m in card.locator(".passage").first.locator("mark.match").all_inner_texts()]
    assert marked and all(any(m.startswith(t[:4]) for t in top["terms"]) for m in marked)

    # the citation opens the document at the cited lines, with lines around them
    card.locator(".passage .cite").first.focus()
    page.keyboard.press("Enter")
    cited = page.locator("#source-lines .line.cited")
    cited.first.wait_for()
    doc = httpx.get(f"{server.url}/documents/{top['source']}",
                    params={"start": top["line_start"], "end": top["line_end"]}, timeout=60).json()
    assert cited.locator(".text").all_inner_texts() == [x["text"] for x in doc["lines"]]
    assert cited.locator(".no").all_inner_texts() == [str(x["line"]) for x in doc["lines"]]
    assert page.locator("#source-lines .line").count() > cited.count()  # context around the cited lines
    assert page.locator("#source-lines mark.answer").count() >= 1
    page.keyboard.press("Escape")
    assert page.locator("#source").is_hidden()

    # a follow-up carries the question before it and the passage shown as its answer
    with page.expect_request(lambda r: r.url.endswith("/search")) as sent:
        follow = ask(page, "Who will attend?")
    body = json.loads(sent.value.post_data)
    assert body["history"] == [QUESTION] and body["history_answers"] == [top["text"]]
    assert follow.locator(".verdict").inner_text().startswith(VERDICTS)
    expected2 = search_json(server, body)
    assert follow.locator(".passage .cite").all_inner_texts() == [h["citation"] for h in expected2["hits"]]

    # up walks the questions asked
    page.focus("#question")
    page.keyboard.press("ArrowUp")
    assert page.input_value("#question") == "Who will attend?"
    page.keyboard.press("ArrowUp")
    assert page.input_value("#question") == QUESTION
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.input_value("#question") == ""

    # the export holds every question and citation shown
    with page.expect_download() as dl:
        page.keyboard.press("Alt+E")
    text = open(dl.value.path(), encoding="utf-8").read()
    assert f"## 1. {QUESTION}" in text and "## 2. Who will attend?" in text
    for c in page.locator("#log .cite").all_inner_texts():
        assert f"`{c}`" in text
    assert not w.dialogs and not w.foreign and not w.errors, (w.dialogs, w.foreign, w.errors)


def test_copy_puts_the_passage_as_a_markdown_quote_with_its_citation_on_the_clipboard(server, new_page):
    """The chat's ctrl+y in the page: a passage's "Copy" button."""
    w = new_page(server.url)
    w.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = w.page
    page.goto(server.url + "/")
    card = ask(page, QUESTION)
    hit = search_json(server, {"question": QUESTION, "k": 5, "mode": "hybrid"})["hits"][1]
    card.locator(".passage .copy").nth(1).focus()
    page.keyboard.press("Enter")
    page.locator("#notice", has_text="as a Markdown quote").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == "\n".join([*(f"> {line}".rstrip() for line in hit["text"].split("\n")), ">",
                                f"> — `{hit['citation']}`"]) + "\n"
    assert not w.dialogs and not w.foreign and not w.errors, (w.dialogs, w.foreign, w.errors)


def test_mode_k_and_every_verdict_as_the_server_gives_it(server, new_page):
    """The selectors reach the request (chosen with the keyboard), and the card says the server's
    verdict in the shared words, whichever it is (an off-topic question as well as one answered)."""
    w = new_page(server.url)
    page = w.page
    page.goto(server.url + "/")
    page.keyboard.press("Alt+M")
    assert page.evaluate("document.activeElement.id") == "mode"
    page.select_option("#mode", "bm25")
    page.keyboard.press("Alt+K")
    assert page.evaluate("document.activeElement.id") == "k"
    page.select_option("#k", "3")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "question"
    seen = set()
    for question in (QUESTION, "What is the boiling point of liquid nitrogen in kelvin?"):
        with page.expect_request(lambda r: r.url.endswith("/search")) as sent:
            card = ask(page, question)
        body = json.loads(sent.value.post_data)
        assert (body["mode"], body["k"]) == ("bm25", 3)
        assert card.locator(".meta").inner_text() == "bm25 · k 3"
        expected = search_json(server, body)
        words = {"answer": "Answer", "weak": "May not answer this", "not_found": "Not in your documents"}
        if expected["hits"]:
            assert card.locator(".verdict").inner_text().startswith(words[expected["verdict"]] + " · confidence ")
        else:
            assert card.locator(".card-note").last.inner_text().startswith("No passage")
        if expected["verdict"] == "not_found" and expected["hits"]:
            assert card.locator(".card-not-found").inner_text().startswith("Your documents do not seem to answer")
            assert card.locator(".answer-sentence").count() == 0
        assert card.locator(".passage .cite").all_inner_texts() == [h["citation"] for h in expected["hits"]]
        seen.add(expected["verdict"])
    assert "answer" in seen and len(seen) == 2  # the off-topic question is not answered
    assert not w.dialogs and not w.foreign and not w.errors, (w.dialogs, w.foreign, w.errors)


def test_the_hostile_seed_executes_nothing_and_shows_as_text(server, new_page):
    w = new_page(server.url)
    page = w.page
    page.goto(server.url + "/")
    card = ask(page, "Where is the zanzibar clipboard kept?")
    passage = card.locator(".passage", has=page.locator(".cite", has_text="hostile.txt")).first
    text = passage.locator(".passage-text").inner_text()
    for literal in ("<script>alert(1)</script>", "<img src=x onerror=alert(2)>", '<a href="javascript:alert(3)">',
                    '<img src="http://evil.example/pixel.png">'):
        assert literal in text
    assert "\u202e" not in text and "\u2066" not in text and "\ufffdevil reversed text\ufffd" in text
    passage.locator(".cite").click()
    page.locator("#source-lines .line.cited").first.wait_for()
    source = page.locator("#source-lines").inner_text()
    assert "<script>alert(1)</script>" in source and "\u202e" not in source
    # nothing in the page was made from the document's markup
    made = page.evaluate("document.querySelectorAll('#log script, #log img, #log a, #log iframe, "
                         "#source script, #source img, #source a, #source iframe').length")
    assert made == 0
    page.wait_for_timeout(500)  # an onerror handler or a script would have run by now
    assert not w.dialogs and not w.foreign and not w.errors, (w.dialogs, w.foreign, w.errors)
    # and were some markup ever inserted, the page's Content-Security-Policy would not run it
    ran = page.evaluate("""() => {
      const s = document.createElement('script'); s.textContent = 'window.__ran = 1'; document.body.append(s);
      const d = document.createElement('div'); d.setAttribute('onclick', 'window.__ran = 2'); d.click();
      return window.__ran === undefined;
    }""")
    assert ran is True


def test_an_added_file_lands_and_the_page_says_so(server, new_page):
    w = new_page(server.url)
    page = w.page
    page.goto(server.url + "/")
    status = page.locator("#index-status")
    status.locator("text=passages").wait_for()
    before = httpx.get(server.url + "/status", timeout=60).json()
    (server.seeds / "penguins.txt").write_text(
        "Emperor penguins huddle together to survive the Antarctic winter.\n", encoding="utf-8")
    page.keyboard.press("Alt+U")  # the watch may have started it already: either way one lands
    page.locator("#notice", has_text="Now answering from the new index").wait_for(timeout=WAIT_MS)
    after = httpx.get(server.url + "/status", timeout=60).json()
    assert after["version"] != before["version"] and after["files"] == before["files"] + 1
    assert f"version {after['version']}" in status.inner_text() or after["update"]["state"] == "updating"
    card = ask(page, "How do penguins survive the winter?")
    assert card.locator(".passage .cite").first.inner_text().startswith("penguins.txt:")
    assert not w.dialogs and not w.foreign and not w.errors, (w.dialogs, w.foreign, w.errors)


def test_a_hidden_tab_stops_asking_for_the_status_and_asks_again_when_shown(server, new_page):
    """Every GET /status stats every seed file on the server: a tab in the background asks nothing."""
    w = new_page(server.url)
    page = w.page
    page.goto(server.url + "/")
    page.locator("#index-status").locator("text=passages").wait_for()

    def polls() -> int:
        return sum(1 for r in w.requests if r.url.endswith("/status"))

    def set_hidden(hidden: bool) -> None:  # what the browser does when the tab goes to the background
        page.evaluate("""(h) => {
            Object.defineProperty(document, "hidden", {configurable: true, get: () => h});
            Object.defineProperty(document, "visibilityState", {configurable: true, get: () => h ? "hidden" : "visible"});
            document.dispatchEvent(new Event("visibilitychange"));
        }""", hidden)

    set_hidden(True)
    page.wait_for_timeout(500)  # a poll already under way may still land
    hidden_from = polls()
    page.wait_for_timeout(7000)  # more than two polling periods (3 s)
    assert polls() == hidden_from
    set_hidden(False)
    page.wait_for_function("n => performance.getEntriesByType('resource')"
                           ".filter(e => e.name.endsWith('/status')).length > n", arg=hidden_from, timeout=WAIT_MS)
    assert polls() > hidden_from
    assert not w.dialogs and not w.foreign and not w.errors, (w.dialogs, w.foreign, w.errors)
