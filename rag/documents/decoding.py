"""From a file's bytes to text: reading with a size limit, detecting binary content, decoding.

UTF-8 (with or without a byte-order mark), UTF-16/32 with a byte-order mark, else Windows-1252 with
a warning; CRLF and lone CR become LF. A file that cannot be read as text raises :class:`SkipFile`
with the reason the build reports.
"""

from __future__ import annotations

import codecs
from pathlib import Path

MAX_FILE_BYTES = 16 * 1024 * 1024


class SkipFile(Exception):
    """Raised while reading one file: the file is skipped, with this message as the reason."""


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


