"""How `rag serve` puts its server together (in process, the server's run replaced): the HTTP API and
MCP at /mcp share one limit on document reads, so together they never run more than its reads at once."""

from __future__ import annotations

from pathlib import Path

from rag import build_index
from rag.cli import main


def test_rag_serve_gives_the_api_and_mcp_one_document_read_limit(monkeypatch, tmp_path: Path, seeds: Path,
                                                                 fake_encoder):
    import uvicorn

    from rag.cli import serve
    from rag.service import http, mcp_server
    from rag.service.state import IndexService

    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    monkeypatch.setattr(serve, "open_service", lambda args: IndexService(idx, seeds, encoder=fake_encoder))
    limits = {}
    real_app, real_mcp = http.create_app, mcp_server.build_mcp

    def create_app(service, **kw):
        limits["api"] = kw.get("documents")
        return real_app(service, **kw)

    def build_mcp(service, **kw):
        limits["mcp"] = kw.get("documents")
        return real_mcp(service, **kw)

    monkeypatch.setattr(http, "create_app", create_app)
    monkeypatch.setattr(mcp_server, "build_mcp", build_mcp)
    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(app))
    assert main(["serve", "--index", str(idx), "--seeds", str(seeds)]) == 0
    assert len(served) == 1
    assert limits["api"] is not None and limits["api"] is limits["mcp"]
