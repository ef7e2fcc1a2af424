"""rag serve and rag mcp as real processes with the real model, driven by real clients: httpx over
a free loopback port, and the MCP SDK's own client over stdio and over streamable HTTP."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import PARTICIPANTS_Q, SEED_ARTICLE
from live_server import env, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def start_server(index: Path, seeds: Path, *extra: str, port: int | None = None, environ: dict | None = None):
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag", "serve", "--index", str(index), "--seeds", str(seeds), "--port", str(port), *extra],
        env=environ or env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(proc, url: str, headers: dict | None = None, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(url + "/health", headers=headers, timeout=2).status_code in (200, 401):
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server did not become ready")


def wait_watching(pid: int, timeout: float = 120.0) -> None:
    """Wait until process ``pid`` watches a folder (an inotify watch: watchfiles on Linux).

    `rag serve --watch` starts its watcher in a thread once the server runs: a file saved before the
    watch exists is not reported as a change (only the catch-up update at start sees it). Elsewhere
    than Linux there is nothing to look at, and a second's grace stands in."""
    if not sys.platform.startswith("linux"):
        time.sleep(1.0)
        return
    fdinfo = Path(f"/proc/{pid}/fdinfo")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in fdinfo.iterdir():
            try:
                if "inotify wd:" in f.read_text():
                    return
            except OSError:  # closed meanwhile
                pass
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never started watching (no inotify watch)")


def stop(proc) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A seeds folder with the seed article, its index (real model), and `rag serve --watch` on it."""
    from rag import build_index

    base = tmp_path_factory.mktemp("serve")
    seeds = base / "seeds"
    seeds.mkdir()
    shutil.copy(SEED_ARTICLE, seeds / SEED_ARTICLE.name)
    index = base / "index"
    build_index(seeds, index)
    proc, url = start_server(index, seeds, "--watch")
    wait_ready(proc, url)
    wait_watching(proc.pid)
    yield url, seeds, index
    err = stop(proc)
    assert "Traceback" not in err, err


def test_search_cites_text_that_documents_reads_back(served):
    url, seeds, _ = served
    r = httpx.post(url + "/search", json={"question": PARTICIPANTS_Q, "k": 3}, timeout=60)
    assert r.status_code == 200
    hit = r.json()["hits"][0]
    assert hit["source"] == SEED_ARTICLE.name
    d = httpx.get(f"{url}/documents/{hit['source']}", params={"start": hit["line_start"], "end": hit["line_end"]}, timeout=30)
    assert d.status_code == 200
    assert " ".join(hit["text"].split()) in " ".join(d.json()["text"].split())


def test_same_object_as_rag_ask_json(served):
    url, seeds, index = served
    out = subprocess.run([sys.executable, "-m", "rag", "ask", "--index", str(index), "--json", "-k", "2", PARTICIPANTS_Q],
                         env=env(), capture_output=True, text=True, timeout=300)
    cli = json.loads(out.stdout)
    api = httpx.post(url + "/search", json={"question": PARTICIPANTS_Q, "k": 2}, timeout=60).json()
    assert api.pop("version") and cli.pop("version")  # both name the version that answered
    # the server names no path of its disk: the index by its folder name, hits without `path`
    assert api.pop("index") == Path(cli.pop("index")).name
    for hit in cli["hits"]:
        assert Path(hit.pop("path")).is_absolute()
    assert api == cli


def test_path_confinement_on_a_real_server(served, tmp_path):
    url, seeds, _ = served
    for bad in ("%2E%2E/%2E%2E/etc/passwd", "%2Fetc%2Fpasswd", "..%2F..%2Fetc%2Fpasswd"):
        r = httpx.get(f"{url}/documents/{bad}", timeout=10)
        assert r.status_code == 400 and list(r.json()) == ["error"]


def test_status_health_openapi(served):
    url, _, _ = served
    st = httpx.get(url + "/status", timeout=30).json()
    assert st["files"] == 1 and st["model"] and st["update"]["state"] in ("idle", "updating")
    assert httpx.get(url + "/health", timeout=10).json()["ok"] is True
    assert "/search" in httpx.get(url + "/openapi.json", timeout=10).json()["paths"]
    assert httpx.get(url + "/health", headers={"host": "attacker.example"}, timeout=10).status_code == 403


def test_cross_site_requests_are_refused_by_a_real_server(served):
    """A web page of another site posting a "simple" request (no CORS preflight) starts nothing."""
    url, _, _ = served
    before = httpx.get(url + "/status", timeout=30).json()["update"]["updates"]
    evil = httpx.post(url + "/index", content=b"go", timeout=10,
                      headers={"Origin": "https://evil.example", "Content-Type": "text/plain"})
    text = httpx.post(url + "/index", content=b"go", headers={"Content-Type": "text/plain"}, timeout=10)
    assert evil.status_code == 403 and text.status_code == 415
    assert httpx.get(url + "/status", timeout=30).json()["update"]["updates"] == before


def test_a_server_bound_to_another_loopback_address_answers_there(served):
    from mcp import Client

    _, seeds, index = served
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rag", "serve", "--index", str(index), "--seeds", str(seeds),
                             "--host", "127.0.0.2", "--port", str(port)],
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.2:{port}"
    try:
        wait_ready(proc, url)

        async def tools():
            async with Client(url + "/mcp") as c:
                return {t.name for t in (await c.list_tools()).tools}

        assert httpx.get(url + "/health", timeout=10).status_code == 200
        assert httpx.post(url + "/search", json={"question": "Sochi", "k": 1}, timeout=60).json()["hits"]
        assert asyncio.run(tools()) == {"search", "get", "status"}
        assert httpx.get(url + "/health", headers={"host": "attacker.example"}, timeout=10).status_code == 403
    finally:
        err = stop(proc)
    assert "Traceback" not in err, err


def test_watch_turns_a_new_file_into_an_update(served):
    url, seeds, _ = served
    before = httpx.get(url + "/status", timeout=30).json()["version"]
    for i in range(3):  # a burst of saves
        (seeds / "penguins.txt").write_text("Emperor penguins huddle together to survive the Antarctic winter.\n" * (i + 1),
                                            encoding="utf-8")
        time.sleep(0.05)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        st = httpx.get(url + "/status", timeout=30).json()
        if st["version"] != before and st["update"]["state"] == "idle":
            break
        time.sleep(0.3)
    assert st["version"] != before and st["files"] == 2
    hits = httpx.post(url + "/search", json={"question": "how do penguins survive winter", "k": 1}, timeout=60).json()["hits"]
    assert hits[0]["source"] == "penguins.txt"


def test_mcp_over_streamable_http(served):
    from mcp import Client

    url, _, _ = served

    async def go():
        async with Client(url + "/mcp") as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            res = await c.call_tool("search", {"question": PARTICIPANTS_Q, "k": 1})
            hit = res.structured_content["hits"][0]
            got = await c.call_tool("get", {"source": hit["source"], "start": hit["line_start"], "end": hit["line_end"]})
            return tools, hit, got.structured_content

    tools, hit, got = asyncio.run(go())
    assert set(tools) == {"search", "get", "status"}
    assert "citation" in tools["search"].description
    assert " ".join(hit["text"].split()) in " ".join(got["text"].split())


def test_mcp_over_stdio_with_write_access(served):
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    _, seeds, index = served
    params = StdioServerParameters(command=sys.executable, args=["-m", "rag", "mcp", "--index", str(index), "--seeds",
                                                                 str(seeds), "--write"], env=env())

    async def go():
        async with Client(params) as c:
            names = {t.name for t in (await c.list_tools()).tools}
            res = await c.call_tool("search", {"question": PARTICIPANTS_Q, "k": 1})
            hit = res.structured_content["hits"][0]
            got = await c.call_tool("get", {"source": hit["source"], "start": hit["line_start"], "end": hit["line_end"]})
            outside = await c.call_tool("get", {"source": "../../etc/passwd"})
            return names, hit, got.structured_content, outside

    names, hit, got, outside = asyncio.run(go())
    assert names == {"search", "get", "status", "reindex"}
    assert " ".join(hit["text"].split()) in " ".join(got["text"].split())
    assert outside.is_error and "root:" not in str(outside.content)


def test_non_loopback_host_needs_a_token(served):
    _, seeds, index = served
    e = env()
    e.pop("RAG_TOKEN", None)
    out = subprocess.run([sys.executable, "-m", "rag", "serve", "--index", str(index), "--seeds", str(seeds),
                          "--host", "0.0.0.0", "--port", str(free_port())], env=e, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "token" in out.stderr and "Traceback" not in out.stderr


def test_token_from_environment_is_enforced(served):
    _, seeds, index = served
    e = env()
    e["RAG_TOKEN"] = "t0ken-for-tests"
    proc, url = start_server(index, seeds, "--no-mcp", environ=e)
    try:
        wait_ready(proc, url)
        assert httpx.post(url + "/search", json={"question": "Sochi"}, timeout=30).status_code == 401
        ok = httpx.post(url + "/search", json={"question": "Sochi"}, timeout=60,
                        headers={"Authorization": "Bearer t0ken-for-tests"})
        assert ok.status_code == 200 and ok.json()["hits"]
    finally:
        stop(proc)


def start_index_watch(seeds, index):
    """`rag index --watch` in a process: ``(process, its stderr lines as they come, an event set once
    it prints "watching")``."""
    import threading

    proc = subprocess.Popen([sys.executable, "-m", "rag", "index", "--watch", "--seeds", str(seeds), "--index", str(index)],
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    watching = threading.Event()

    def read():
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("watching"):
                watching.set()

    threading.Thread(target=read, daemon=True).start()
    return proc, lines, watching


def test_rag_index_watch_updates_after_saves(tmp_path):
    from rag import build_index
    from rag.index import store

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEED_ARTICLE, seeds / SEED_ARTICLE.name)
    index = tmp_path / "index"
    build_index(seeds, index)
    proc, lines, watching = start_index_watch(seeds, index)
    try:
        assert watching.wait(120), lines
        wait_watching(proc.pid)
        (seeds / "owls.txt").write_text("Owls hunt at night with silent feathers.\n", encoding="utf-8")
        (seeds / "bad.txt").write_bytes(b"\x00\xff\x00" * 50)  # fails to read: tried again, then skipped
        deadline = time.monotonic() + 120
        files = 1
        while time.monotonic() < deadline and files != 2:
            _, m = store.open_meta(index)
            files = m["counts"]["files"]
            time.sleep(0.3)
        assert files == 2
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("skipped bad.txt" in x for x in lines):
            time.sleep(0.2)
        assert any("skipped bad.txt" in x for x in lines), lines
    finally:
        err = stop(proc)
    assert "Traceback" not in "".join(lines) + err
