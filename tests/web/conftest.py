"""The browser tests' fixtures: Debian's Chromium driven by Playwright for Python (one browser per
module), and pages that record what must never happen (:class:`Watched`)."""

from __future__ import annotations

import os

import pytest

from web.web_helpers import CHROMIUM, CHROMIUM_ARGS, WAIT_MS


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module. Not for the session: while Playwright's synchronous API is open,
    its event loop counts as running in this thread, and a later test's ``asyncio.run`` would fail."""
    if not CHROMIUM.exists():
        why = f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium package)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(why)  # CI must run the browser tests, never skip them
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=WAIT_MS)
        yield b
        b.close()


class Watched:
    """A page with everything that must not happen recorded: dialogs (alert, confirm, prompt, print),
    requests to another origin, uncaught errors, and the console's errors (a CSP violation included)."""

    def __init__(self, page, origin: str) -> None:
        self.page = page
        self.origin = origin
        self.dialogs: list[str] = []
        self.foreign: list[str] = []
        self.requests: list = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("request", self._request)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _request(self, request) -> None:
        self.requests.append(request)
        url = request.url
        if url.startswith(("http:", "https:", "ws:", "wss:")) and not url.startswith(self.origin + "/"):
            self.foreign.append(url)


@pytest.fixture
def new_page(browser):
    """``new_page(origin, **context options)``: a page in a fresh context (its own session storage),
    watched (:class:`Watched`); closed after the test."""
    contexts = []

    def make(origin: str, **options) -> Watched:
        ctx = browser.new_context(viewport={"width": 1200, "height": 900}, **options)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(WAIT_MS)
        return Watched(page, origin)

    yield make
    for ctx in contexts:
        ctx.close()
