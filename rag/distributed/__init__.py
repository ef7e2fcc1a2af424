"""rag on a Ray cluster: distributed embedding for builds, and sharded search.

Everything here imports ``ray`` only inside functions, so ``import rag`` works without Ray; install
it with ``pip install 'rag[ray]'``. Every node needs rag and the model installed (the same Python
environment on each, as for any Ray application).
"""
