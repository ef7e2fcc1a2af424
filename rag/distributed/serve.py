"""Serving the sharded searcher through Ray Serve replicas (for ``rag serve --ray``).

:class:`SearchDeployment` is a plain class that a Ray Serve deployment wraps: every replica opens
the index's manifest and query encoder, and all replicas share one set of shard actors (named
``rag-shards-<i>-of-<n>``, created by the first replica). Its ``__call__`` takes the JSON body
``{"question": ..., "k": 5, "mode": "hybrid"}`` and returns the object `rag ask --json` prints (:class:`rag.search.results.SearchResult`)
(with confidence and answer sentences, as ``rag ask --json``).
:func:`deployment` builds the Serve application (``serve.run(deployment(...))``); it needs
``ray[serve]`` installed.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from starlette.responses import Response

from rag.distributed.cluster import ClusterError
from rag.distributed.shards import ShardedSearcher
from rag.errors import QuestionError, RagError
from rag.search.limits import checked_request
from rag.search.results import SearchResult
from rag.terminal_text import json_dumps


class SearchDeployment:
    def __init__(self, index_dir: str, n_shards: int, name: str = "rag-shards", token: str | None = None,
                 hosts: list[str] | None = None) -> None:
        self.searcher = ShardedSearcher(Path(index_dir), n_shards, name=name)
        self.token = token
        self.hosts = hosts  # the Host names a request may carry (rag serve's rule on loopback); None: any

    def query(self, body: dict) -> tuple[int, dict]:
        """``(HTTP status, JSON)`` for one request body; errors are ``{"error": one line}``: 400 for a
        request outside the limits, 503 when the index cannot answer."""
        try:  # the limits HTTP and MCP share
            r = checked_request(body.get("question", ""), body.get("k", 5), body.get("mode", "hybrid"))
            hits = self.searcher.search(r.question, k=r.k, mode=r.mode)
        except QuestionError as exc:
            return 400, {"error": str(exc)}
        except RagError as exc:
            return 503, {"error": str(exc)}
        version = self.searcher.retriever.version_dir  # the version every shard holds (checked when they start)
        return 200, SearchResult(r.question, r.mode, r.k, str(version.parent), version.name, hits).to_dict(public=True)

    def authorized(self, header: str | None) -> bool:
        """Whether a request's ``Authorization`` header carries the token (always, without one)."""
        if not self.token:
            return True
        return hmac.compare_digest((header or "").encode(), f"Bearer {self.token}".encode())

    def refused(self, host: str | None, authorization: str | None) -> tuple[int, dict] | None:
        """``(status, error)`` for a request this server refuses by its headers, else None: a Host not
        allowed (403, as `rag serve` answers a DNS-rebinding page) or a missing or wrong token (401)."""
        if self.hosts is not None:
            h = (host or "").lower()
            name = h.rsplit(":", 1)[0] if not h.endswith("]") else h
            if name not in self.hosts and h not in self.hosts:
                return 403, {"error": f"Host {host!r} is not allowed here; use http://127.0.0.1:PORT"}
        if not self.authorized(authorization):
            return 401, {"error": "this server needs `Authorization: Bearer TOKEN`"}
        return None

    async def __call__(self, request):  # a starlette Request under Ray Serve
        def reply(status: int, body: dict, **headers: str) -> Response:
            return Response(json_dumps(body), status_code=status, media_type="application/json", headers=headers)

        refused = self.refused(request.headers.get("host"), request.headers.get("authorization"))
        if refused is not None:
            status, body = refused
            return reply(status, body, **({"WWW-Authenticate": "Bearer"} if status == 401 else {}))
        try:
            body = await request.json()
        except ValueError:
            return reply(400, {"error": "the request body must be JSON: {\"question\": \"...\", \"k\": 5}"})
        return reply(*self.query(body if isinstance(body, dict) else {}))


def deployment(index_dir: str, n_shards: int, replicas: int = 2, name: str = "rag-shards", token: str | None = None,
               hosts: list[str] | None = None):
    """The Ray Serve application: ``replicas`` copies of :class:`SearchDeployment` over ``n_shards``
    (``hosts``: the Host names allowed, None for any)."""
    try:
        from ray import serve  # optional (the [ray] extra): its absence is reported here
    except ImportError as exc:
        raise ClusterError(f"Ray Serve is not installed ({exc.name or exc}): pip install -e '.[ray]'") from None
    return serve.deployment(num_replicas=replicas, ray_actor_options={"num_cpus": 0})(SearchDeployment).bind(
        str(index_dir), n_shards, name, token, hosts)
