"""rag serve's API in process (fake encoder): endpoints, errors, guard rules, path confinement,
atomic version switch, the OpenAPI document fuzzed by schemathesis, and the MCP tools in process."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import httpx
import pytest

# schemathesis imports its OpenAPI machinery lazily, and pytest rewrites a plugin's modules as they
# are imported (ast.parse). On CPython 3.11, parsing in one thread while another thread compiles
# (a service's update thread importing a module) can fail with "SystemError: AST constructor
# recursion depth mismatch" (the AST state is shared by threads; the same symptom: pytest-dev/pytest
# issue 10763). Imported here, at collection, before any thread.
import schemathesis.specs.openapi.schemas  # noqa: E402,F401

from rag import build_index
from rag.service.http import create_app
from rag.service.state import IndexService

LOCAL_HOSTS = ["127.0.0.1", "localhost", "testserver"]


@pytest.fixture
def service(seeds: Path, tmp_path: Path, fake_encoder) -> IndexService:
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    return IndexService(idx, seeds, encoder=fake_encoder, retry_delay=0.0)


def client(app, **kw) -> httpx.Client:
    from starlette.testclient import TestClient

    return TestClient(app, raise_server_exceptions=False, **kw)


def test_search_is_the_object_of_rag_ask_json(service):
    with client(create_app(service)) as c:
        r = c.post("/search", json={"question": "how many ships in winter", "k": 2})
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"question", "mode", "k", "index", "hits", "version"}
    assert body["hits"][0]["source"] == "notes/ships.md"
    assert body["hits"][0]["citation"].startswith("notes/ships.md:")
    assert len(body["hits"]) <= 2
    assert body["version"] == service.retriever.version_dir.name


def test_search_takes_the_answers_shown_for_earlier_questions(service):
    with client(create_app(service)) as c:
        first = c.post("/search", json={"question": "how many ships in winter", "k": 1}).json()["hits"][0]["text"]
        body = {"question": "and why?", "k": 3, "history": ["how many ships in winter"]}
        r = c.post("/search", json={**body, "history_answers": [first]})
        plain = c.post("/search", json=body)
        bad = c.post("/search", json={**body, "history_answers": [first, None]})
        wrong_type = c.post("/search", json={**body, "history_answers": [3]})
    assert r.status_code == 200 and plain.status_code == 200
    assert r.json()["history_answers"] == [first] and "history_answers" not in plain.json()
    assert bad.status_code == 400 and "earlier answer" in bad.json()["error"]
    assert wrong_type.status_code == 422 and set(wrong_type.json()) == {"error"}


def test_document_lines_read_around_a_citation(service):
    with client(create_app(service)) as c:
        hit = c.post("/search", json={"question": "forty ships harbour"}).json()["hits"][0]
        r = c.get(f"/documents/{hit['source']}", params={"start": hit["line_start"], "end": hit["line_end"]})
    assert r.status_code == 200
    d = r.json()
    assert hit["text"].strip() in d["text"]
    assert d["lines"][0]["line"] == hit["line_start"]


@pytest.mark.parametrize("source,status", [
    ("%2E%2E/secret.txt", 400), ("notes/%2E%2E/%2E%2E/secret.txt", 400), ("..%2Fsecret.txt", 400), ("%2Fetc%2Fpasswd", 400), (".hidden.txt", 400),
    ("nope.txt", 404), ("link.txt", 400), ("notes", 404),
])
def test_documents_are_confined_to_the_seeds_folder(service, seeds, tmp_path, source, status):
    (tmp_path / "secret.txt").write_text("the secret\n", encoding="utf-8")
    (seeds / ".hidden.txt").write_text("hidden\n", encoding="utf-8")
    os.symlink(tmp_path / "secret.txt", seeds / "link.txt")
    with client(create_app(service)) as c:
        r = c.get(f"/documents/{source}")
    assert r.status_code == status, r.text
    assert "secret" not in r.json().get("text", "")
    assert list(r.json()) == ["error"] and "\n" not in r.json()["error"]


def test_errors_are_one_json_line_with_their_status(service):
    with client(create_app(service)) as c:
        assert c.post("/search", json={"question": ""}).status_code == 422
        assert c.post("/search", json={"question": "ships", "k": 101}).status_code == 422
        assert c.post("/search", json={"question": "ships", "mode": "magic"}).status_code == 422
        assert c.post("/search", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
        assert c.post("/search", json={"question": "   "}).status_code == 400  # nothing searchable
        r = c.get("/no/such/endpoint")
    assert r.status_code == 404 and list(r.json()) == ["error"]


def test_bodies_are_bounded(service):
    with client(create_app(service, max_body=1000)) as c:
        big = {"question": "ships", "history": ["x" * 2000]}
        assert c.post("/search", json=big).status_code == 413

        def chunks():  # no Content-Length: the streamed body is counted
            for _ in range(10):
                yield b" " * 500

        r = c.post("/search", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "error" in r.json()


def test_token_is_required_when_set(service):
    with client(create_app(service, token="s3cret")) as c:
        assert c.get("/health").status_code == 401
        assert c.get("/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/health", headers={"Authorization": "s3cret"}).status_code == 401
        assert c.get("/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_loopback_server_refuses_other_host_headers(service):
    with client(create_app(service, allowed_hosts=LOCAL_HOSTS)) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/health", headers={"host": "evil.example:8000"}).status_code == 403


def test_cors_closed_unless_asked(service):
    pre = {"Origin": "https://site.example", "Access-Control-Request-Method": "POST"}
    with client(create_app(service)) as c:
        r = c.options("/search", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    with client(create_app(service, cors=["https://site.example"])) as c:
        r = c.options("/search", headers=pre)
    assert r.headers.get("access-control-allow-origin") == "https://site.example"


def test_unexpected_error_is_json_without_traceback(service, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("secret internals\nTraceback")

    monkeypatch.setattr(service, "status", boom)
    with client(create_app(service)) as c:
        r = c.get("/status")
    assert r.status_code == 500
    assert list(r.json()) == ["error"] and "Traceback" not in r.text and "internals" not in r.text


def test_update_in_background_then_atomic_switch(service, seeds, fake_encoder):
    old = service.retriever
    with client(create_app(service)) as c:
        (seeds / "moon.txt").write_text("The moon orbits the earth every month.\n", encoding="utf-8")
        r = c.post("/index")
        assert r.status_code == 202
        assert service.wait_idle(60)
        st = c.get("/status").json()
        hits = c.post("/search", json={"question": "moon orbits earth"}).json()["hits"]
    assert st["update"]["state"] == "idle" and st["update"]["updates"] == 1
    assert st["files"] == 4 and st["version"] != old.version_dir.name
    assert hits[0]["source"] == "moon.txt"
    # a request that took the old retriever still answers from it, whole
    assert all(h.source != "moon.txt" for h in old.search("moon orbits earth", k=5))


def test_searches_do_not_wait_for_an_update(seeds, tmp_path, fake_encoder):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    gate = threading.Event()

    def slow_build(*a, **k):
        gate.wait(30)
        return build_index(*a, **k)

    svc = IndexService(idx, seeds, encoder=fake_encoder, build=slow_build)
    assert svc.start_update()
    assert not svc.start_update()  # one runs: this one is queued after it
    assert svc.search("ships winter")["hits"]  # answered while the update is blocked
    assert svc.status()["update"]["state"] == "updating"
    gate.set()
    assert svc.wait_idle(60)


def test_failing_file_is_retried_then_listed_as_skipped(seeds, tmp_path, fake_encoder):
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    calls = []

    def counting_build(*a, **k):
        calls.append(1)
        return build_index(*a, **k)

    svc = IndexService(idx, seeds, encoder=fake_encoder, build=counting_build, retry_delay=0.0)
    (seeds / "broken.txt").write_bytes(b"\x00\x01\x02" * 100)  # binary: fails to read as text
    svc.start_update()
    assert svc.wait_idle(60)
    assert len(calls) == 2  # tried, then once more
    skipped = {s["source"] for s in svc.status()["update"]["skipped"]}
    assert "broken.txt" in skipped


def test_openapi_document_lists_the_endpoints(service):
    with client(create_app(service)) as c:
        doc = c.get("/openapi.json").json()
    assert {"/search", "/documents/{source}", "/status", "/health", "/index"} <= set(doc["paths"])


def test_fuzz_the_api_from_its_openapi_document(service):
    """schemathesis: requests generated from /openapi.json never get a 5xx or a traceback, and
    every error is the one-key JSON object."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    app = create_app(service, allowed_hosts=LOCAL_HOSTS)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures = []

    for op in schema.get_all_operations():
        operation = op.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case):
            response = case.call()
            if response.status_code >= 500:
                failures.append((case.method, case.formatted_path, response.status_code, response.text))
            else:
                assert "traceback" not in response.text.lower()
                if response.status_code >= 400:
                    assert list(response.json()) == ["error"]

        run()
    assert service.wait_idle(60)
    assert not failures, failures[:3]


def test_mcp_tools_in_process(service):
    from mcp import Client

    from rag.service.mcp_server import build_mcp

    async def go():
        async with Client(build_mcp(service, write=False)) as c:
            names = {t.name for t in (await c.list_tools()).tools}
            res = await c.call_tool("search", {"question": "forty ships harbour", "k": 1})
            hit = res.structured_content["hits"][0]
            got = await c.call_tool("get", {"source": hit["source"], "start": hit["line_start"], "end": hit["line_end"]})
            bad = await c.call_tool("get", {"source": "../x.txt"})
            follow = await c.call_tool("search", {"question": "and why?", "k": 2, "history": ["forty ships harbour"],
                                                  "history_answers": [hit["text"]]})
            uneven = await c.call_tool("search", {"question": "and why?", "history": ["forty ships harbour"],
                                                  "history_answers": []})
        return names, hit, got.structured_content, bad, follow, uneven

    names, hit, got, bad, follow, uneven = asyncio.run(go())
    assert follow.structured_content["history_answers"] == [hit["text"]]
    assert uneven.is_error and "history_answers" in uneven.content[0].text
    assert names == {"search", "get", "status"}  # no reindex without write access
    assert hit["text"].strip() in got["text"]
    assert bad.is_error


def test_update_process_reports_its_error_as_one_line(tmp_path):
    from rag.errors import RagError
    from rag.service.build_job import build_in_subprocess

    with pytest.raises(RagError, match="seeds folder not found") as info:
        build_in_subprocess(tmp_path / "no-such-folder", tmp_path / "idx")
    assert "\n" not in str(info.value)


def test_mcp_endpoint_is_behind_the_token(service):
    from rag.service.mcp_server import build_mcp

    with client(create_app(service, token="s3cret", mcp=build_mcp(service))) as c:
        r = c.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert r.status_code == 401 and list(r.json()) == ["error"]
        assert "/mcp" not in c.get("/openapi.json", headers={"Authorization": "Bearer s3cret"}).json()["paths"]


# ----------------------------------------------------------------- what the terminal chat uses
def test_a_missing_index_is_built_at_open_with_its_progress_and_statistics(seeds, tmp_path, fake_encoder):
    heard: list[tuple[str, int, int]] = []
    svc = IndexService(tmp_path / "idx", seeds, encoder=fake_encoder, on_progress=lambda *p: heard.append(p))
    assert svc.built is not None and svc.built.files == 3 and svc.built.changed
    assert {"reading", "embedding", "writing"} <= {stage for stage, _done, _total in heard}
    assert svc.retriever.info.files == 3
    heard.clear()
    (seeds / "moon.txt").write_text("The moon orbits the earth every month.\n", encoding="utf-8")
    assert svc.start_update() and svc.wait_idle(60)
    assert heard[0] == ("starting", 0, 0) and len(heard) > 1  # each update says it starts, then its steps
    again = IndexService(tmp_path / "idx", seeds, encoder=fake_encoder)
    assert again.built is None  # it opened as it was


def test_rebuild_at_open_embeds_everything(service, seeds, fake_encoder):
    again = IndexService(service.index, seeds, encoder=fake_encoder, rebuild=True)
    assert again.built is not None and again.built.embedded == again.built.passages > 0
    assert again.retriever.version_dir != service.retriever.version_dir


def test_refresh_switches_to_a_version_built_outside(service, seeds, fake_encoder):
    old = service.retriever
    assert service.refresh() is False and service.retriever is old  # nothing newer
    (seeds / "moon.txt").write_text("The moon orbits the earth every month.\n", encoding="utf-8")
    build_index(seeds, service.index, encoder=fake_encoder)  # `rag index` in another shell
    assert service.refresh() is True and service.retriever is not old
    assert service.ask("moon orbits earth").hits[0].source == "moon.txt"
    assert service.refresh() is False


def test_close_stops_a_running_build(service, seeds):
    started = threading.Event()

    def waiting_build(*_a, cancel, **_k):
        started.set()
        if cancel.wait(30):
            raise OSError("build cancelled")  # what a build does when its cancel is set
        raise AssertionError("close() did not set the cancel event")  # not caught: no update is reported

    updates: list[str | None] = []
    svc = IndexService(service.index, seeds, build=waiting_build, encoder=service.retriever.encoder(),
                       on_update=lambda _stats, error: updates.append(error))
    svc.start_update()
    assert started.wait(30)
    svc.close()
    assert svc.wait_idle(30)
    assert updates == ["build cancelled"] and svc.status()["update"]["state"] == "failed"
