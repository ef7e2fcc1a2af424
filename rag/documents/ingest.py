"""Reading one seed file for indexing: stat, read, hash, and parse it with its format's reader.

The pieces live in modules with one job each: :mod:`rag.documents.files` (the seeds folder),
:mod:`rag.documents.decoding` (bytes to text), :mod:`rag.documents.readers` (one reader per format,
and the registry), :mod:`rag.documents.chunking` (blocks to passages). A build calls
:func:`read_seed` for each new or changed file and :func:`~rag.documents.chunking.chunk` on its
document. Files that cannot be indexed are skipped with a reason; one bad file never stops the others.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass

from rag.documents.decoding import MAX_FILE_BYTES, SkipFile, read_bytes
from rag.documents.document import Document
from rag.documents.files import SeedFile, file_hash
from rag.documents.readers import find_reader, unsupported_reason
from rag.hashing import sha256_file

# Bump when passages (boundaries, citations, their metadata) would change for the same file.
# 3: Markdown read by its reader (headings are sections, not passages; front matter not indexed).
# 4: HTML and DOCX readers; passages carry the document's title.
# 5: Markdown parsed as CommonMark (markup out of the text, front matter title, lists, code);
#    the title and section path prefixed to what is embedded and searched.
# 6: plain text: a heading-like line is the section of the paragraphs under it, not a passage;
#    PDF: short paragraphs and headings split into blocks, the title from the metadata.
# 7: PDF: reading order (columns first, tables by rows), rotated margin text, running heads across
#    pages, hyphens kept in compounds, headings as sections; text: UTF-8 with bad bytes stays UTF-8.
INGEST_VERSION = 7

__all__ = ["INGEST_VERSION", "MAX_FILE_BYTES", "ReadResult", "read_seed"]


@dataclass(slots=True)
class ReadResult:
    """One file read for indexing. ``size``, ``mtime_ns``, ``ctime_ns`` and ``ino`` are what ``stat``
    said just before reading (the stamp of :mod:`rag.documents.changes`); ``sha256`` is "" when the
    bytes could not be read. ``document`` is set unless the file is skipped (``skip`` says why)."""

    file: SeedFile
    sha256: str
    size: int
    mtime_ns: int
    document: Document | None = None
    warning: str | None = None
    skip: str | None = None
    ctime_ns: int = 0
    ino: int = 0

    @property
    def text(self) -> str | None:
        """The document's text (decoded, LF newlines), or None for a skipped file."""
        return None if self.document is None else self.document.text

    def stamp(self) -> dict:
        return {"size": self.size, "mtime_ns": self.mtime_ns, "ctime_ns": self.ctime_ns, "ino": self.ino}


def read_seed(file: SeedFile, max_bytes: int = MAX_FILE_BYTES) -> ReadResult:
    """Read, hash and parse one seed file. Never raises for a bad file: ``skip`` says why."""
    try:
        st = file.path.stat()
    except FileNotFoundError:
        return ReadResult(file, "", 0, 0, skip="vanished before it could be read")
    except OSError as exc:
        return ReadResult(file, "", 0, 0, skip=f"cannot be read: {exc.strerror or exc}")

    def result(sha256: str, skip: str | None = None) -> ReadResult:
        return ReadResult(file, sha256, st.st_size, st.st_mtime_ns, skip=skip, ctime_ns=st.st_ctime_ns, ino=st.st_ino)

    reader = find_reader(file.source)
    if reader is None:
        return result("", unsupported_reason(file.path.name))
    if not stat.S_ISREG(st.st_mode):
        # A named pipe would block the build forever; devices and sockets are no documents.
        return result("", "not a regular file")
    try:
        data = read_bytes(file.path, max_bytes)
    except SkipFile as exc:
        sha = ""
        if st.st_size > max_bytes:  # hashed (in blocks) so that a touch is not taken for an edit
            try:
                sha = sha256_file(file.path)
            except OSError:
                pass
        return result(sha, str(exc))
    res = result(file_hash(data))
    try:
        res.document = reader.load(file.source, data)
    except SkipFile as exc:
        res.skip = str(exc)
        return res
    res.warning = res.document.warning
    return res
