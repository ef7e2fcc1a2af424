"""The index side: versioned storage of passages behind :class:`backend.IndexBackend`, with a local
segment-based implementation (:mod:`rag.index.local`)."""
