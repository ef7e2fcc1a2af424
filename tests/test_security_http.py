"""rag serve under attack from web pages and hostile text, replayed with a real HTTP client against a
real server (uvicorn on a loopback port, fake encoder): cross-site requests are refused whatever
their content type, CORS with a token works, the bound address is its own Host, JSON leaving the
server escapes control and bidi characters, the API documentation needs no CDN, and /health says
when the server cannot search (issue 23, items 2, 3, 8)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest

from live_server import serving
from rag import build_index
from rag.service.http import create_app
from rag.service.state import IndexService

LOOPBACK = ["127.0.0.1", "localhost", "[::1]", "::1"]  # what `rag serve` allows on loopback
EVIL = "https://evil.example"
SITE = "https://app.example"
TOKEN = "s3cret-token"


@pytest.fixture
def service(seeds: Path, tmp_path: Path, fake_encoder) -> IndexService:
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    return IndexService(idx, seeds, encoder=fake_encoder, retry_delay=0.0)


def test_cross_site_requests_are_refused_whatever_their_content_type(service):
    with serving(create_app(service, allowed_hosts=LOOPBACK)) as url, httpx.Client(base_url=url, timeout=30) as c:
        evil = {"Origin": EVIL}
        attempts = [
            c.post("/index", content=b"go", headers={**evil, "Content-Type": "text/plain"}),  # no preflight
            c.post("/index", headers=evil),  # fetch(url, {method: "POST", mode: "no-cors"})
            c.post("/index", json={}, headers=evil),
            c.post("/search", json={"question": "ships"}, headers=evil),
            c.post("/search", content=b'{"question": "ships"}', headers={**evil, "Content-Type": "text/plain"}),
            c.get("/documents/cats.txt", headers=evil),
            c.get("/status", headers=evil),
            c.post("/index", headers={"Origin": "null"}),  # a sandboxed frame or a file:// page
        ]
        own = c.post("/search", json={"question": "ships"}, headers={"Origin": url})  # the server's own pages
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    assert all(list(r.json()) == ["error"] and "--cors" in r.json()["error"] for r in attempts)
    assert "access-control-allow-origin" not in attempts[0].headers
    assert own.status_code == 200
    assert service.status()["update"]["state"] == "idle" and service.status()["update"]["updates"] == 0


def test_cross_site_requests_to_mcp_are_refused(service):
    from rag.service.mcp_server import build_mcp

    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"Accept": "application/json, text/event-stream"}
    with serving(create_app(service, allowed_hosts=LOOPBACK, mcp=build_mcp(service, write=True))) as url:
        r = httpx.post(url + "/mcp", json=call, headers={**accept, "Origin": EVIL}, timeout=30)
        plain = httpx.post(url + "/mcp", content=json.dumps(call), timeout=30,
                           headers={**accept, "Content-Type": "text/plain"})
    assert r.status_code == 403 and list(r.json()) == ["error"]
    assert plain.status_code == 415


def test_request_bodies_must_be_json(service):
    with serving(create_app(service, allowed_hosts=LOOPBACK)) as url, httpx.Client(base_url=url, timeout=30) as c:
        text = c.post("/search", content=b'{"question": "ships"}', headers={"Content-Type": "text/plain"})
        form = c.post("/search", data={"question": "ships"})
        bare = c.post("/search", content=b'{"question": "ships"}', headers={"Content-Type": ""})
        empty_text = c.post("/index", headers={"Content-Type": "text/plain"})
        utf8 = c.post("/search", content=b'{"question": "ships"}', headers={"Content-Type": "application/json; charset=utf-8"})
        curl = c.post("/index")  # `curl -X POST URL/index`: no body, no content type
    assert [r.status_code for r in (text, form, bare, empty_text)] == [415] * 4
    assert "Content-Type: application/json" in text.json()["error"]
    assert utf8.status_code == 200 and curl.status_code == 202
    assert service.wait_idle(60)


def test_cors_with_a_token_preflight_passes_and_every_error_carries_the_headers(service):
    app = create_app(service, token=TOKEN, allowed_hosts=LOOPBACK, cors=[SITE + "/"], max_body=2000)
    site = {"Origin": SITE}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        # what a browser sends before fetch(url + "/search", {headers: {Authorization, Content-Type}})
        pre = c.options("/search", headers={**site, "Access-Control-Request-Method": "POST",
                                            "Access-Control-Request-Headers": "authorization,content-type"})
        evil_pre = c.options("/search", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"})
        ok = c.post("/search", json={"question": "ships"}, headers={**site, **auth})
        errors = {
            401: c.post("/search", json={"question": "ships"}, headers=site),
            422: c.post("/search", json={"question": ""}, headers={**site, **auth}),
            404: c.get("/documents/nope.txt", headers={**site, **auth}),
            413: c.post("/search", json={"question": "x" * 3000}, headers={**site, **auth}),
            415: c.post("/search", content=b"{}", headers={**site, **auth, "Content-Type": "text/plain"}),
        }
        evil = c.post("/search", json={"question": "ships"}, headers={"Origin": EVIL, **auth})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == SITE
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in evil_pre.headers
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == SITE and ok.json()["hits"]
    for status, r in errors.items():
        assert r.status_code == status, (status, r.text)
        assert r.headers.get("access-control-allow-origin") == SITE, status
        assert list(r.json()) == ["error"]
    assert errors[401].headers["www-authenticate"] == "Bearer"
    assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers


def test_mcp_from_an_allowed_site_works(service):
    from mcp import Client

    from rag.service.mcp_server import build_mcp

    app = create_app(service, token=TOKEN, allowed_hosts=LOOPBACK, cors=[SITE], mcp=build_mcp(service))

    async def go(url: str):
        import httpx2  # the MCP SDK's HTTP client
        from mcp.client.streamable_http import streamable_http_client

        headers = {"Origin": SITE, "Authorization": f"Bearer {TOKEN}"}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with Client(streamable_http_client(url + "/mcp", http_client=http)) as c:
                return (await c.call_tool("search", {"question": "forty ships harbour", "k": 1})).structured_content

    with serving(app) as url:
        out = asyncio.run(go(url))
    assert out["hits"][0]["source"] == "notes/ships.md"


def test_the_bound_address_is_an_allowed_host(service):
    app = create_app(service, allowed_hosts=LOOPBACK, bind_host="127.0.0.2")
    with serving(app, host="127.0.0.2") as url:
        own = httpx.get(url + "/health", timeout=30)
        posted = httpx.post(url + "/search", json={"question": "ships"}, headers={"Origin": url}, timeout=30)
        rebound = httpx.get(url + "/health", headers={"Host": "attacker.example"}, timeout=30)
    assert own.status_code == 200 and posted.status_code == 200
    assert rebound.status_code == 403


HOSTILE = "C1 csi \x9b2J, del \x7f, bidi \u202eevil\u202c \u2066x\u2069 marks \u200e\u200f\u061c esc \x1b[31m end"
UNSAFE_BYTES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def test_json_leaving_the_server_escapes_control_and_bidi_characters(seeds, tmp_path, fake_encoder):
    (seeds / "hostile.txt").write_text(f"lighthouse keepers {HOSTILE}\n", encoding="utf-8")
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    service = IndexService(idx, seeds, encoder=fake_encoder)
    with serving(create_app(service, allowed_hosts=LOOPBACK)) as url, httpx.Client(base_url=url, timeout=30) as c:
        doc = c.get("/documents/hostile.txt")
        found = c.post("/search", json={"question": f"lighthouse keepers {HOSTILE}", "mode": "bm25", "k": 1})
        error = c.get("/documents/" + "\u202e\x9b.txt")
    for r in (doc, found, error):
        body = r.content.decode("utf-8")
        assert not UNSAFE_BYTES.search(body), (r.request.url, body)
    assert doc.status_code == 200 and HOSTILE in doc.json()["text"]  # the exact text, once parsed
    assert "\\u009b" in doc.text and "\\u202e" in doc.text and "\\u200f" in doc.text
    assert found.status_code == 200 and found.json()["question"].startswith("lighthouse keepers C1 csi \x9b")
    assert found.json()["hits"][0]["source"] == "hostile.txt"
    assert error.status_code == 404


def test_json_leaving_mcp_over_http_escapes_control_and_bidi_characters(seeds, tmp_path, fake_encoder):
    """The raw bytes of the MCP SDK's answers at /mcp (its own JSON, in server-sent events)."""
    from rag.service.mcp_server import build_mcp

    (seeds / "hostile.txt").write_text(f"lighthouse keepers {HOSTILE}\n", encoding="utf-8")
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    service = IndexService(idx, seeds, encoder=fake_encoder)
    accept = {"Accept": "application/json, text/event-stream"}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    with serving(create_app(service, allowed_hosts=LOOPBACK, mcp=build_mcp(service))) as url, \
            httpx.Client(base_url=url, timeout=30, headers=accept) as c:
        first = c.post("/mcp", json=init)
        session = {"Mcp-Session-Id": first.headers["mcp-session-id"], "Mcp-Protocol-Version": "2025-06-18"}
        c.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
        got = c.post("/mcp", headers=session, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                                     "params": {"name": "get", "arguments": {"source": "hostile.txt"}}})
    assert got.status_code == 200
    raw = got.content.decode("utf-8").replace("\r\n", "\n")  # the event stream's own line ends
    assert not UNSAFE_BYTES.search(raw), raw
    data = [json.loads(line[5:]) for line in raw.splitlines() if line.startswith("data:") and line[5:].strip()]
    assert HOSTILE in data[-1]["result"]["structuredContent"]["text"]  # the exact text, once parsed


def test_api_documentation_needs_no_network(service):
    with serving(create_app(service, allowed_hosts=LOOPBACK)) as url, httpx.Client(base_url=url, timeout=30) as c:
        pages = [c.get(p) for p in ("/docs", "/redoc", "/docs/oauth2-redirect")]
        spec = c.get("/openapi.json")
    assert [p.status_code for p in pages] == [404, 404, 404]
    assert spec.status_code == 200 and "/search" in spec.json()["paths"]
    assert not re.search(r"https?://(?!127\.0\.0\.1)[a-z]", " ".join(p.text for p in pages))  # no CDN named


def test_health_reports_a_server_that_cannot_search(service):
    with serving(create_app(service, allowed_hosts=LOOPBACK)) as url, httpx.Client(base_url=url, timeout=30) as c:
        assert c.get("/health").status_code == 200
        damaged = list(service.index.glob("segments/*/payloads.jsonl"))
        assert damaged
        for payloads in damaged:
            with open(payloads, "r+b") as f:  # damaged in place, size kept: the file still opens
                size = len(f.read())
                f.seek(0)
                f.write(b"\xff" * size)
        health = c.get("/health")
        search = c.post("/search", json={"question": "forty ships harbour"})
    assert search.status_code == 503
    assert health.status_code == 503 and list(health.json()) == ["error"]
    assert "cannot search" in health.json()["error"] and "rag index --rebuild" in health.json()["error"]


def test_health_reports_the_failure_a_search_met(service, monkeypatch):
    from rag.errors import IndexCorruptError

    def damaged(*a, **k):
        raise IndexCorruptError("payload 7 is damaged; run `rag index --rebuild`")

    with serving(create_app(service, allowed_hosts=LOOPBACK)) as url, httpx.Client(base_url=url, timeout=30) as c:
        monkeypatch.setattr(service.retriever, "ask", damaged)
        assert c.post("/search", json={"question": "ships"}).status_code == 503
        sick = c.get("/health")
        monkeypatch.undo()
        assert c.post("/search", json={"question": "ships"}).status_code == 200
        well = c.get("/health")
    assert sick.status_code == 503 and "payload 7" in sick.json()["error"]
    assert well.status_code == 200


def test_no_response_names_a_path_of_the_servers_disk(service, seeds):
    """A client names documents by `source`: search, documents and errors carry no absolute path of
    the seeds folder or the index (the folder names of /status are the server operator's)."""
    from rag.service.mcp_server import build_mcp

    with serving(create_app(service, allowed_hosts=LOOPBACK, mcp=build_mcp(service))) as url, \
            httpx.Client(base_url=url, timeout=30) as c:
        found = c.post("/search", json={"question": "ships", "k": 3})
        doc = c.get("/documents/" + found.json()["hits"][0]["source"])
        missing = c.get("/documents/nothing-here.txt")
    assert found.status_code == 200 and doc.status_code == 200 and missing.status_code == 404
    assert found.json()["hits"] and all("path" not in h for h in found.json()["hits"])
    for r in (found, doc, missing):
        assert str(seeds.resolve()) not in r.text and str(service.index) not in r.text, r.text
    assert found.json()["index"] == Path(service.index).name


def test_the_web_page_is_readable_without_the_token_and_the_api_is_not(service):
    """GET / and its static files hold no data: a browser reads them without the token (the page
    then asks for it); everything else still needs it, and the page comes with a strict CSP (issue 25)."""
    from rag.service.web import page_files

    auth = {"Authorization": f"Bearer {TOKEN}"}
    files = page_files()
    assert "/" in files and "/static/app.js" in files
    with serving(create_app(service, token=TOKEN, allowed_hosts=LOOPBACK)) as url, \
            httpx.Client(base_url=url, timeout=30) as c:
        pages = {path: c.get(path) for path in files}
        head = c.head("/")
        api = [c.get("/status"), c.post("/search", json={"question": "ships"}), c.post("/index", json={}),
               c.get("/documents/cats.txt"), c.get("/openapi.json")]
        others = [c.get("/static/nope.js"), c.get("/static/../status"), c.get("/static/app.js/"),
                  c.get("/static/%2e%2e/status"), c.get("/index.html")]
        post_page = c.post("/", json={})
        with_token = c.get("/status", headers=auth)
        evil = c.get("/", headers={"Origin": EVIL})
        rebound = c.get("/", headers={"Host": "evil.example"})
    for path, r in pages.items():
        assert r.status_code == 200, path
        assert r.content == files[path][0]
        assert r.headers["content-type"] == files[path][1]
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"
    assert head.status_code == 200
    assert [r.status_code for r in api] == [401] * len(api)
    assert all(r.headers["x-content-type-options"] == "nosniff" for r in [*api, with_token])
    assert all(r.status_code in (401, 404) and list(r.json()) == ["error"] for r in others)
    assert post_page.status_code in (401, 405)
    assert with_token.status_code == 200
    assert evil.status_code == 403 and rebound.status_code == 403
