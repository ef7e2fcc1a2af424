"""The index side: versioned storage of passages behind the protocols of :mod:`rag.index.backend`
(:class:`~rag.index.backend.IndexWriter` for the build, :class:`~rag.index.backend.IndexReader` for
the search), with a local segment-based implementation (:mod:`rag.index.local`)."""
