""""Open original" in a real browser (issue 25, item 2): the page fetches a cited document's own file
with the token (never in a URL) and opens it in a new tab from a blob: URL, a PDF at the cited page
and plain text as text; an HTML document of the seeds folder is saved, never shown as a page, and
runs nothing."""

from __future__ import annotations

import functools
import re

import pytest

from web.web_helpers import SEED_ARTICLE, serving_rag

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "original-test-token-Q3z"
PAGE_HTML = (b"<!doctype html><html><head><title>inkwell</title><script>alert('from the seed')</script></head>"
             b"<body><p>The zanzibar inkwell is kept in the blue drawer.</p>"
             b"<img src=x onerror=\"alert('img')\"><iframe src=\"http://evil.example/\"></iframe></body></html>")


@functools.cache
def paper_pdf() -> bytes:
    """A two-page PDF (made once: its bytes hold the time it was made)."""
    from pdfs import paper

    return paper([[["The lighthouse keeper rows out at dawn."]],
                  [["The quokka lantern hangs in the north tower of the harbour."]]])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving_rag(tmp_path_factory.mktemp("original"), "--token", TOKEN,
                     files={"paper.pdf": paper_pdf(), "inkwell.html": PAGE_HTML}) as s:
        yield s


def ask(page, question: str, mode: str = "bm25"):
    n = page.locator("#log article").count() + 1
    page.select_option("#mode", mode)
    page.fill("#question", question)
    page.press("#question", "Enter")
    card = page.locator(f"#card-{n}")
    card.locator("xpath=self::*[@data-state='done']").wait_for()
    return card


def passage_of(card, source: str):
    """The first passage of ``card`` cited from ``source``."""
    return card.locator(".passage").filter(has=card.page.locator(".cite", has_text=re.compile("^" + re.escape(source))))


def test_open_original_shows_pdf_and_text_and_saves_html(server, new_page):
    w = new_page(server.url, accept_downloads=True)
    page, ctx = w.page, w.page.context
    popups_dialogs: list[str] = []
    ctx.on("page", lambda p: p.on("dialog", lambda d: (popups_dialogs.append(d.message), d.dismiss())))
    # the blobs the page makes, kept to read back (the page's CSP lets nothing fetch a blob: URL)
    page.add_init_script("""(() => { const make = URL.createObjectURL; window.madeBlobs = {};
      URL.createObjectURL = (b) => { const u = make(b); window.madeBlobs[u] = b; return u; }; })()""")
    page.goto(server.url + "/")
    page.locator("#token-form").wait_for()
    page.fill("#token", TOKEN)
    page.press("#token", "Enter")
    page.locator("#index-status", has_text="passages").wait_for()

    # a PDF: its bytes in a new tab, at the cited page, from the button beside the citation (keyboard)
    card = ask(page, "Where does the quokka lantern hang?")
    hit = passage_of(card, "paper.pdf").first
    assert hit.locator(".cite").inner_text().startswith("paper.pdf:p2:")
    hit.locator("button.original").focus()
    with page.expect_popup() as opened:
        page.keyboard.press("Enter")
    tab = opened.value
    assert tab.url.startswith(f"blob:{server.url}/") and tab.url.endswith("#page=2"), tab.url
    tab.wait_for_load_state()
    got = page.evaluate("async (u) => { const b = window.madeBlobs[u]; "
                        "return [b.type, Array.from(new Uint8Array(await b.arrayBuffer()))]; }", tab.url.split("#")[0])
    assert got[0] == "application/pdf" and bytes(got[1]) == paper_pdf()
    tab.close()

    # plain text: from the source panel, by its key (Alt+O), shown as text
    card = ask(page, "How many participants and observers are expected in Sochi?", "hybrid")
    passage_of(card, SEED_ARTICLE.name).first.locator(".cite").click()
    page.locator("#source-lines .line.cited").first.wait_for()
    with page.expect_popup() as opened:
        page.keyboard.press("Alt+O")
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url.startswith(f"blob:{server.url}/")
    assert tab.evaluate("document.contentType") == "text/plain"
    assert tab.evaluate("document.body.innerText").split() == SEED_ARTICLE.read_text(encoding="utf-8").split()
    tab.close()

    # HTML: saved with its bytes, never opened as a page
    pages_before = len(ctx.pages)
    card = ask(page, "Where is the zanzibar inkwell kept?")
    hit = passage_of(card, "inkwell.html").first
    with page.expect_download() as saved:
        hit.locator("button.original").click()
    download = saved.value
    assert download.suggested_filename == "inkwell.html"
    with open(download.path(), "rb") as f:
        assert f.read() == PAGE_HTML
    page.locator("#notice", has_text="Saved inkwell.html").wait_for()
    assert len(ctx.pages) == pages_before  # no tab opened for it
    page.wait_for_timeout(500)  # were it rendered anywhere, its alert would have come by now

    files = [r for r in w.requests if r.url.startswith(server.url + "/files/")]
    assert [r.url.split("/files/")[1] for r in files] == ["paper.pdf", SEED_ARTICLE.name, "inkwell.html"]
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in files)
    assert all(TOKEN not in r.url for r in w.requests)
    assert not w.dialogs and not popups_dialogs and not w.foreign, (w.dialogs, popups_dialogs, w.foreign)
    assert all("401" in e for e in w.errors), w.errors  # only the refusals before the token was given


def test_a_browser_sent_straight_to_a_file_gets_it_sandboxed(seeds, tmp_path, fake_encoder, new_page):
    """A link followed to /files/ (a server without a token; in process, fake encoder): the HTML is a
    download, plain text is shown in a sandbox (an opaque origin), and Chromium's viewer still shows
    the PDF under the sandbox CSP."""
    import time

    from live_server import serving
    from rag import build_index
    from rag.service.http import create_app
    from rag.service.state import IndexService

    (seeds / "inkwell.html").write_bytes(PAGE_HTML)
    (seeds / "paper.pdf").write_bytes(paper_pdf())
    build_index(seeds, tmp_path / "idx", encoder=fake_encoder)
    service = IndexService(tmp_path / "idx", seeds, encoder=fake_encoder, retry_delay=0.0)
    with serving(create_app(service, allowed_hosts=["127.0.0.1"])) as url:
        w = new_page(url, accept_downloads=True)
        page = w.page
        with page.expect_download() as saved:
            with pytest.raises(Exception, match="Download is starting"):
                page.goto(url + "/files/inkwell.html")
        with open(saved.value.path(), "rb") as f:
            assert f.read() == PAGE_HTML
        page.goto(url + "/files/cats.txt")
        assert page.evaluate("document.contentType") == "text/plain"
        assert page.evaluate("window.origin") == "null"  # sandboxed: not the API's origin
        assert page.evaluate("document.body.innerText").startswith("All about cats.")
        page.goto(url + "/files/paper.pdf#page=2")
        deadline = time.monotonic() + 60
        while not any(f.url.startswith("chrome-extension://") for f in page.frames) and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        assert any(f.url.startswith("chrome-extension://") for f in page.frames), [f.url for f in page.frames]
        assert not w.dialogs and not w.foreign, (w.dialogs, w.foreign)
