"""What the browser tests share: real `rag serve` processes (real model) over a temporary copy of the
seed article beside a hostile seed file, a tiny site on another origin, and Chromium's settings.

One server per module: each start costs seconds on a loaded machine. Every wait is on a condition,
with generous limits."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from live_server import env, free_port

ROOT = Path(__file__).resolve().parents[2]
SEED_ARTICLE = ROOT / "seeds" / "000_696ac6e15c916e66.txt"
CHROMIUM = Path(os.environ.get("RAG_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
WAIT_MS = 120_000  # any one wait in the page, on a loaded 2-core machine

# Document text written to be executed if the page ever inserted it as HTML, and a request to another
# origin if an <img> were ever made of it; bidi overrides that would reorder the text around them.
HOSTILE = (
    "Hostile notes about the zanzibar clipboard.\n"
    "<script>alert(1)</script> The zanzibar clipboard is kept in the red cabinet.\n"
    "<img src=x onerror=alert(2)> Zanzibar clipboards are cleaned on Mondays.\n"
    '<a href="javascript:alert(3)">click the zanzibar clipboard</a> for its inventory.\n'
    '<img src="http://evil.example/pixel.png"><iframe src="http://evil.example/"></iframe> zanzibar clipboard audit.\n'
    "Bidi: \u202eevil reversed text\u202c and \u2066isolate\u2069 near the zanzibar clipboard.\n"
)


class Server:
    """A `rag serve` process on a free loopback port."""

    def __init__(self, index: Path, seeds: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.seeds = seeds
        self.index = index
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rag", "serve", "--index", str(index), "--seeds", str(seeds),
             "--port", str(self.port), *extra],
            env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.stderr: list[str] = []
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"rag serve exited {self.proc.returncode}: {''.join(self.stderr)}")
            try:
                if httpx.get(self.url + "/health", timeout=5).status_code in (200, 401):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError("rag serve did not become ready")

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return "".join(self.stderr)


def make_seeds(base: Path, extra: dict[str, bytes] | None = None) -> tuple[Path, Path]:
    """A seeds folder (the seed article, the hostile file and the ``extra`` files by name) and its
    index, built with the real model."""
    from rag import build_index

    seeds = base / "seeds"
    seeds.mkdir()
    shutil.copy(SEED_ARTICLE, seeds / SEED_ARTICLE.name)
    (seeds / "hostile.txt").write_text(HOSTILE, encoding="utf-8")
    for name, data in (extra or {}).items():
        (seeds / name).write_bytes(data)
    index = base / "index"
    build_index(seeds, index)
    return seeds, index


@contextlib.contextmanager
def serving_rag(base: Path, *extra: str, files: dict[str, bytes] | None = None):
    seeds, index = make_seeds(base, files)
    server = Server(index, seeds, *extra)
    try:
        server.wait_ready()
        yield server
    finally:
        err = server.stop()
    assert "Traceback" not in err, err


@contextlib.contextmanager
def static_site(html: str):
    """A tiny web site on another loopback port (another origin) that serves ``html`` at ``/``."""
    body = html.encode("utf-8")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the standard library's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
