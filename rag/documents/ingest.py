"""From a seeds folder to passages: walking, decoding, paragraphs, and splitting long paragraphs.

A paragraph is a block of non-blank lines. A paragraph longer than the model's window is split into
several passages at sentence boundaries (and, for a single over-long sentence, at spaces), each
citing its own lines, so nothing is silently truncated away. Files that cannot be indexed are
skipped with a reason; one bad file never stops the others.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import stat
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.hashing import sha256_file
from rag.errors import SeedsError
from rag.documents.sentences import sentence_spans
from rag.types import Passage, Skipped

EXTENSIONS = (".txt", ".md")
MAX_FILE_BYTES = 16 * 1024 * 1024
INGEST_VERSION = 2  # bump when passages (boundaries, citations) would change for the same file


@dataclass(frozen=True, slots=True)
class SeedFile:
    """A candidate document: its path relative to the seeds folder (with ``/``) and absolute path."""

    source: str
    path: Path


class SkipFile(Exception):
    """Raised while reading one file: the file is skipped, with this message as the reason."""


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def unsupported_reason(name: str) -> str:
    """Why a file of this name is not read: its format has no reader."""
    readers = ", ".join(EXTENSIONS)
    ext = os.path.splitext(name)[1]
    if not ext:
        return f"unsupported format: no extension (readers: {readers})"
    return f"unsupported format {ext.lower()} (readers: {readers})"


def iter_seed_files(root: Path) -> tuple[list[SeedFile], list[Skipped]]:
    """All ``.txt``/``.md`` files under ``root``, sorted by source, and the files that are skipped.

    Every other file is listed in the skipped ones with its reason (an unsupported format, a link
    that leads outside ``root``). Hidden files and folders (names starting with ``.``) are ignored
    silently: they are an editor's, a version control's or the system's, not documents.
    Links are followed only while they stay inside ``root``; a link loop is visited once.
    """
    root = Path(root)
    if not root.exists():
        raise SeedsError(f"seeds folder not found: {root} (create it and put .txt or .md files in it)")
    if not root.is_dir():
        raise SeedsError(f"seeds path is not a folder: {root}")
    real_root = root.resolve()
    files: list[SeedFile] = []
    skipped: list[Skipped] = []
    seen_dirs: set[tuple[int, int]] = set()

    def inside(p: Path) -> bool:
        try:
            p.resolve().relative_to(real_root)
            return True
        except (ValueError, OSError, RuntimeError):
            return False

    def on_error(err: OSError) -> None:
        rel = os.path.relpath(err.filename or str(root), root) if err.filename else "."
        skipped.append(Skipped(Path(rel).as_posix(), f"cannot list folder: {err.strerror or err}"))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=on_error):
        d = Path(dirpath)
        try:
            st = d.stat()
        except OSError:
            dirnames[:] = []
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs or not inside(d):
            dirnames[:] = []
            continue
        seen_dirs.add(key)
        dirnames[:] = sorted(n for n in dirnames if not _is_hidden(n))
        for name in sorted(filenames):
            if _is_hidden(name):
                continue
            p = d / name
            source = p.relative_to(root).as_posix()
            if not name.lower().endswith(EXTENSIONS):
                skipped.append(Skipped(source, unsupported_reason(name)))
                continue
            if p.is_symlink() and not inside(p):
                skipped.append(Skipped(source, "link that leads outside the seeds folder"))
                continue
            files.append(SeedFile(source, p.absolute()))
    files.sort(key=lambda f: f.source)
    return files, skipped


def read_bytes(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The file's bytes; raises :class:`SkipFile` for a vanished, unreadable or oversized file."""
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise SkipFile("vanished before it could be read") from None
    except IsADirectoryError:
        raise SkipFile("is a folder, not a file") from None
    except PermissionError:
        raise SkipFile("cannot be read: permission denied") from None
    except OSError as exc:
        raise SkipFile(f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise SkipFile(f"larger than the {human_size(max_bytes)} limit; split it into smaller files")
    return data


def human_size(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            v = n / size
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} bytes"


def decode(data: bytes) -> tuple[str, str | None]:
    """Decode a text file: UTF-8 (BOM or not), UTF-16 with BOM, else cp1252 with a warning.

    Raises :class:`SkipFile` for an empty or binary file. Returns ``(text, warning or None)``.
    """
    if not data.strip(b" \t\r\n\x0b\x0c"):
        raise SkipFile("empty file")
    magic = _magic(data)
    if magic:
        raise SkipFile(f"binary content (looks like {magic})")
    if data.startswith(codecs.BOM_UTF8):
        return _strict(data[3:], "utf-8"), None
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return _strict(data, "utf-32"), None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _strict(data, "utf-16"), None
    kind = binary_kind(data)
    if kind:
        raise SkipFile(f"binary content ({kind})")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text, "not valid UTF-8; read as Windows-1252 (cp1252)"


# Signatures of formats that are not text, whatever the file's name says.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF"),
    (b"PK\x03\x04", "a ZIP archive: .docx, .xlsx, .odt and .epub are ZIP files"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file (.doc, .xls, .ppt)"),
    (b"{\\rtf", "an RTF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "a program (ELF)"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"OggS", "an Ogg audio or video file"),
)
_RIFF = {b"WEBP": "a WebP image", b"WAVE": "a WAV audio file", b"AVI ": "an AVI video"}
_TEXT_CONTROLS = frozenset(b"\t\n\r\x0b\x0c\x1b")  # whitespace, and ESC of coloured logs
_NOT_CONTROL = bytes(b for b in range(256) if not ((b < 0x20 and b not in _TEXT_CONTROLS) or b == 0x7F))
_SNIFF = 64 * 1024  # bytes looked at for control characters
_MAX_CONTROL_RATIO = 0.1


def _magic(data: bytes) -> str | None:
    """What a known binary format's signature at the start of ``data`` says it is, or None."""
    for sig, what in _MAGIC:
        if data.startswith(sig):
            return what
    if data.startswith(b"RIFF") and data[8:12] in _RIFF:
        return _RIFF[data[8:12]]
    if data[4:8] == b"ftyp":
        return "an MP4 or QuickTime media file"
    if data.startswith(b"ID3") and data[3:4] in (b"\x02", b"\x03", b"\x04"):
        return "an MP3 audio file"
    return None


def binary_kind(data: bytes) -> str | None:
    """Why ``data`` (without a byte-order mark) is not text: NUL bytes or many control characters."""
    head = data[:_SNIFF]
    if b"\x00" in data:
        return "contains NUL bytes"
    controls = len(head.translate(None, _NOT_CONTROL))
    if controls > _MAX_CONTROL_RATIO * len(head):
        return f"{100 * controls // len(head)}% control characters"
    return None


def _strict(data: bytes, encoding: str) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SkipFile(f"invalid {encoding.upper()} despite its byte-order mark: {exc.reason}") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise SkipFile("empty file")
    return text


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR become LF, so that lines are counted as editors count them."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Paragraph:
    number: int  # 1-based within the file
    line_start: int  # 1-based
    line_end: int  # inclusive
    char_start: int
    char_end: int
    text: str


def paragraphs(text: str) -> list[Paragraph]:
    """Blocks of non-blank lines of ``text`` (already newline-normalized)."""
    out: list[Paragraph] = []
    offset = 0
    start_line = start_char = -1
    lines = text.split("\n")
    for i, line in enumerate(lines):
        blank = not line.strip()
        if not blank and start_line < 0:
            start_line, start_char = i, offset
        if blank and start_line >= 0:
            end_char = offset - 1  # the newline before this line
            out.append(Paragraph(len(out) + 1, start_line + 1, i, start_char, end_char, text[start_char:end_char]))
            start_line = -1
        offset += len(line) + 1
    if start_line >= 0:
        end_char = len(text)
        out.append(
            Paragraph(len(out) + 1, start_line + 1, len(lines), start_char, end_char, text[start_char:end_char])
        )
    return out


TokenEnds = Callable[[str], list[int]]


def _split_spans(text: str, ends: list[int], limit: int) -> list[tuple[int, int]]:
    """Cut ``text`` into spans of at most ``limit`` word-pieces, at sentence ends where possible."""

    def count(a: int, b: int) -> int:
        return bisect_right(ends, b) - bisect_right(ends, a)

    def hard_split(a: int, b: int) -> list[tuple[int, int]]:
        pieces = []
        while a < b:
            if count(a, b) <= limit:
                pieces.append((a, b))
                break
            first = bisect_right(ends, a)
            cut = min(ends[first + limit - 1], b)
            ws = min(cut, len(text) - 1)
            while ws > a and not text[ws].isspace():
                ws -= 1
            if ws > a:
                cut = ws
            piece_end = cut
            while piece_end > a and text[piece_end - 1].isspace():
                piece_end -= 1
            pieces.append((a, piece_end))
            a = cut
            while a < b and text[a].isspace():
                a += 1
        return pieces

    spans: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    for a, b in sentence_spans(text):
        if count(a, b) > limit:
            if cur:
                spans.append(cur)
                cur = None
            spans.extend(hard_split(a, b))
            continue
        if cur is None:
            cur = (a, b)
        elif count(cur[0], b) <= limit:
            cur = (cur[0], b)
        else:
            spans.append(cur)
            cur = (a, b)
    if cur:
        spans.append(cur)
    return spans


def passages_of(
    source: str,
    text: str,
    *,
    token_ends: TokenEnds | None = None,
    max_tokens: int | None = None,
) -> list[Passage]:
    """The passages of one decoded, newline-normalized document.

    With ``token_ends`` and ``max_tokens`` (word-pieces, special tokens excluded), paragraphs longer
    than the window are split. A paragraph whose text already appeared in this file is dropped (the
    first place is cited).
    """
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, not {max_tokens}")
    out: list[Passage] = []
    seen: set[str] = set()
    for para in paragraphs(text):
        key = " ".join(para.text.split())
        if key in seen:
            continue
        seen.add(key)
        spans = [(0, len(para.text))]
        if token_ends is not None and max_tokens is not None:
            ends = token_ends(para.text)
            if len(ends) > max_tokens:
                spans = _split_spans(para.text, ends, max_tokens)
        lines = _LineIndex(para.text) if len(spans) > 1 else None
        for a, b in spans:
            piece = para.text[a:b]
            col_start, col_end = 1, None
            if lines is None:
                line_start, line_end = para.line_start, para.line_end
            else:
                first, last = lines.line_of(a), lines.line_of(max(a, b - 1))
                line_start, line_end = para.line_start + first, para.line_start + last
                col_start = a - lines.starts[first] + 1
                if not lines.covers(a, b, first, last):
                    col_end = b - lines.starts[last]  # 1-based column of the last character
            out.append(
                Passage(
                    text=piece,
                    source=source,
                    line_start=line_start,
                    line_end=line_end,
                    paragraph=para.number,
                    char_start=para.char_start + a,
                    char_end=para.char_start + b,
                    hash=text_hash(piece),
                    col_start=col_start,
                    col_end=col_end,
                )
            )
    return out


class _LineIndex:
    """Where each line of a paragraph starts, found once; lines of an offset by bisection.

    Keeps cutting a paragraph into pieces linear in its length (one long line of 15 MB included).
    """

    __slots__ = ("text", "starts", "_inner")

    def __init__(self, text: str) -> None:
        self.text = text
        starts = [0]
        i = text.find("\n")
        while i >= 0:
            starts.append(i + 1)
            i = text.find("\n", i + 1)
        self.starts = starts
        self._inner: dict[int, tuple[int, int]] = {}

    def line_of(self, offset: int) -> int:
        """0-based line of the character at ``offset``."""
        return bisect_right(self.starts, offset) - 1

    def end_of(self, line: int) -> int:
        """Offset just past the last character of ``line`` (its newline excluded)."""
        return self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)

    def _nonblank(self, line: int) -> tuple[int, int]:
        """Offsets of the first non-blank character of ``line`` and just past its last one."""
        got = self._inner.get(line)
        if got is None:  # each line is stripped once, however many pieces it holds
            a, b = self.starts[line], self.end_of(line)
            s = self.text[a:b]
            got = (a + len(s) - len(s.lstrip()), a + len(s.rstrip()))
            self._inner[line] = got
        return got

    def covers(self, a: int, b: int, first: int, last: int) -> bool:
        """True when ``text[a:b]`` holds its lines whole, leading and trailing blanks aside."""
        return a <= self._nonblank(first)[0] and b >= self._nonblank(last)[1]


@dataclass(slots=True)
class ReadResult:
    """One file read for indexing. ``size``, ``mtime_ns``, ``ctime_ns`` and ``ino`` are what ``stat``
    said just before reading (the stamp of :mod:`rag.documents.changes`); ``sha256`` is "" when the bytes could
    not be read."""

    file: SeedFile
    sha256: str
    size: int
    mtime_ns: int
    text: str | None = None
    warning: str | None = None
    skip: str | None = None
    ctime_ns: int = 0
    ino: int = 0

    def stamp(self) -> dict:
        return {"size": self.size, "mtime_ns": self.mtime_ns, "ctime_ns": self.ctime_ns, "ino": self.ino}


def read_seed(file: SeedFile, max_bytes: int = MAX_FILE_BYTES) -> ReadResult:
    """Read, hash and decode one seed file. Never raises for a bad file: ``skip`` says why."""
    try:
        st = file.path.stat()
    except FileNotFoundError:
        return ReadResult(file, "", 0, 0, skip="vanished before it could be read")
    except OSError as exc:
        return ReadResult(file, "", 0, 0, skip=f"cannot be read: {exc.strerror or exc}")

    def result(sha256: str, skip: str | None = None) -> ReadResult:
        return ReadResult(file, sha256, st.st_size, st.st_mtime_ns, skip=skip, ctime_ns=st.st_ctime_ns, ino=st.st_ino)

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
        text, res.warning = decode(data)
    except SkipFile as exc:
        res.skip = str(exc)
        return res
    res.text = normalize_newlines(text)
    return res


def read_lines(path: Path) -> list[str]:
    """The lines of a seed file as the index saw them (decoded, newline-normalized).

    Raises :class:`~rag.errors.SeedsError` when the file cannot be read any more.
    """
    try:
        text, _ = decode(read_bytes(Path(path)))
    except SkipFile as exc:
        raise SeedsError(f"{path}: {exc}; run `rag index` to bring the index up to date") from None
    return normalize_newlines(text).split("\n")

