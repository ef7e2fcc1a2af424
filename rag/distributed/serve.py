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

from pathlib import Path

from rag.errors import QuestionError, RagError


class SearchDeployment:
    def __init__(self, index_dir: str, n_shards: int, name: str = "rag-shards", token: str | None = None) -> None:
        from rag.distributed.shards import ShardedSearcher

        self.searcher = ShardedSearcher(Path(index_dir), n_shards, name=name)
        self.token = token

    def query(self, body: dict) -> dict:
        """Answer one request body; errors are ``{"error": one line}``."""
        from rag.search.limits import checked_request
        from rag.search.results import SearchResult

        try:  # the limits HTTP and MCP share
            r = checked_request(body.get("question", ""), body.get("k", 5), body.get("mode", "hybrid"))
            hits = self.searcher.search(r.question, k=r.k, mode=r.mode)
        except (QuestionError, RagError) as exc:
            return {"error": str(exc)}
        version = self.searcher.retriever.version_dir  # the version every shard holds (checked when they start)
        return SearchResult(r.question, r.mode, r.k, str(version.parent), version.name, hits).to_dict()

    def authorized(self, header: str | None) -> bool:
        """Whether a request's ``Authorization`` header carries the token (always, without one)."""
        if not self.token:
            return True
        import hmac

        return hmac.compare_digest((header or "").encode(), f"Bearer {self.token}".encode())

    async def __call__(self, request) -> dict:  # a starlette Request under Ray Serve
        if not self.authorized(request.headers.get("authorization")):
            return {"error": "this server needs `Authorization: Bearer TOKEN`"}
        try:
            body = await request.json()
        except ValueError:
            return {"error": "the request body must be JSON: {\"question\": \"...\", \"k\": 5}"}
        return self.query(body if isinstance(body, dict) else {})


def deployment(index_dir: str, n_shards: int, replicas: int = 2, name: str = "rag-shards", token: str | None = None):
    """The Ray Serve application: ``replicas`` copies of :class:`SearchDeployment` over ``n_shards``."""
    try:
        from ray import serve
    except ImportError as exc:
        from rag.distributed.cluster import ClusterError

        raise ClusterError(f"Ray Serve is not installed ({exc.name or exc}): pip install -e '.[ray]'") from None
    return serve.deployment(num_replicas=replicas, ray_actor_options={"num_cpus": 0})(SearchDeployment).bind(
        str(index_dir), n_shards, name, token)
