"""`rag serve --token T --cors ORIGIN` in a real browser: a page of the allowed site calls the API
with the token (the browser's real CORS preflight passes before the token is asked for), a page of
another site cannot, and the server's own page asks for the token once, keeps it in the tab's
session storage and never puts it in a URL (issues 23 and 25)."""

from __future__ import annotations

import contextlib

import pytest

from web.web_helpers import serving_rag, static_site

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "web-test-token-7Yq"
SITE_PAGE = "<!doctype html><title>another site</title><p>another site</p>"

# fetch() as a page of another site writes it: JSON and a bearer token, so the browser preflights.
CALL = """async ([url, token]) => {
  const headers = {"Content-Type": "application/json"};
  if (token) headers["Authorization"] = "Bearer " + token;
  try {
    const r = await fetch(url + "/search", {method: "POST", headers, body: JSON.stringify({question: "Sochi talks", k: 2})});
    const body = await r.json();
    return {status: r.status, hits: (body.hits || []).length, error: body.error || null};
  } catch (e) {
    return {status: null, failed: String(e)};
  }
}"""


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """(server, allowed site URL, other site URL): `rag serve --token --cors` the allowed site."""
    with contextlib.ExitStack() as stack:
        allowed = stack.enter_context(static_site(SITE_PAGE))
        other = stack.enter_context(static_site(SITE_PAGE))
        server = stack.enter_context(serving_rag(tmp_path_factory.mktemp("token"), "--token", TOKEN, "--cors", allowed))
        yield server, allowed, other


def test_cors_with_a_token_passes_the_browsers_real_preflight(sites, new_page):
    server, allowed, other = sites
    w = new_page(allowed)
    w.page.goto(allowed + "/")
    ok = w.page.evaluate(CALL, [server.url, TOKEN])
    no_token = w.page.evaluate(CALL, [server.url, None])
    wrong = w.page.evaluate(CALL, [server.url, "wrong-token"])
    assert ok["status"] == 200 and ok["hits"] == 2, ok
    # errors carry the CORS headers: the allowed page reads why it was refused
    assert no_token["status"] == 401 and "token" in no_token["error"], no_token
    assert wrong["status"] == 401, wrong

    v = new_page(other)
    v.page.goto(other + "/")
    refused = v.page.evaluate(CALL, [server.url, TOKEN])
    assert refused["status"] is None and "Failed to fetch" in refused["failed"], refused
    assert not w.dialogs and not v.dialogs


def test_the_page_asks_for_the_token_once_and_keeps_it_out_of_urls(sites, new_page):
    server, _, _ = sites
    w = new_page(server.url)
    page = w.page
    page.goto(server.url + "/")
    form = page.locator("#token-form")
    form.wait_for()  # the page (readable without the token) found that the API needs it
    page.fill("#token", "wrong-token")
    page.press("#token", "Enter")
    page.locator("#token-error", has_text="token").wait_for()
    assert form.is_visible()
    page.fill("#token", TOKEN)
    page.press("#token", "Enter")
    page.locator("#index-status", has_text="passages").wait_for()
    assert form.is_hidden()
    page.fill("#question", "What is planned in Sochi?")
    page.press("#question", "Enter")
    page.locator("#card-1[data-state=done] .passage").first.wait_for()
    assert page.evaluate("sessionStorage.getItem('rag-token')") == TOKEN
    assert page.evaluate("localStorage.length") == 0
    page.reload()  # the same tab: the token is kept, not asked for again
    page.locator("#index-status", has_text="passages").wait_for()
    assert form.is_hidden()
    api_calls = [r for r in w.requests if r.url.startswith(server.url) and "/static/" not in r.url
                 and r.url != server.url + "/"]
    assert api_calls and all(TOKEN not in r.url for r in w.requests)
    authorized = [r for r in api_calls if r.headers.get("authorization") == f"Bearer {TOKEN}"]
    assert authorized, [r.url for r in api_calls]
    assert not w.dialogs and not w.foreign, (w.dialogs, w.foreign)
    assert all("401" in e for e in w.errors), w.errors  # the refusals before the token was given
