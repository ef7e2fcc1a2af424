"""rag on a Ray cluster: distributed embedding for builds, and sharded search.

Everything here imports ``ray`` only inside functions, so ``import rag`` works without Ray; install
it in rag's folder with ``pip install -e '.[ray]'`` (Ray Data and Ray Serve). Every node needs rag
and the model installed (the same Python environment on each, as for any Ray application), and,
for reading on the cluster, the seeds folder at the same path (:mod:`rag.distributed.reading`).
"""
