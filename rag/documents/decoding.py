"""From a file's bytes to text: reading with a size limit, detecting binary content, decoding.

UTF-8 (with or without a byte-order mark), UTF-16/32 with a byte-order mark; CRLF and lone CR
become LF. A file that is not valid UTF-8 is read line by line (:func:`decode`): it stays UTF-8 when
it holds UTF-8 characters (its bad bytes replaced by U+FFFD), and only a file without a single
UTF-8 multi-byte character is read as Windows-1252 as a whole. Either way one warning says so, which
the build records for ``rag status``. A file that cannot be read as text raises :class:`SkipFile`
with the reason the build reports.
"""

from __future__ import annotations

import codecs
import re
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
    """Decode a text file. Returns ``(text, warning or None)``; raises :class:`SkipFile` for an empty
    or binary file.

    - A byte-order mark decides: UTF-8 (bad bytes replaced, with a warning), UTF-16 or UTF-32.
    - Valid UTF-8 is UTF-8.
    - Not valid UTF-8, and not one UTF-8 multi-byte character in it: the whole file is another
      encoding, read as Windows-1252 (Latin-1 where cp1252 leaves a byte undefined).
    - Otherwise the file is UTF-8 with bad bytes, decided line by line: a line that is valid UTF-8
      is UTF-8; a line with bad bytes is UTF-8 with each bad byte replaced by U+FFFD, except a line
      without any UTF-8 character whose every non-ASCII byte is a Windows-1252 letter next to an
      ASCII letter or alone (a pasted Latin-1 line: "caf\xe9 \xe0"), which is read as Windows-1252.
    """
    if not data.strip(b" \t\r\n\x0b\x0c"):
        raise SkipFile("empty file")
    magic = _magic(data)
    if magic:
        raise SkipFile(f"binary content (looks like {magic})")
    if data.startswith(codecs.BOM_UTF8):
        text, warning = _utf8_lines(data[3:], latin_lines=False)
        return _not_empty(text), warning
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
    if not _UTF8_CHAR.search(data):
        return _cp1252(data), "not UTF-8; read as Windows-1252 (cp1252)"
    return _utf8_lines(data, latin_lines=True)


# One well-formed UTF-8 multi-byte character (no overlong forms, no surrogates).
_UTF8_CHAR = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
# Windows-1252's letters above ASCII (Š Œ Ž š œ ž Ÿ ƒ, À-ÿ without × and ÷).
_CP1252_LETTERS = frozenset(b"\x83\x8a\x8c\x8e\x9a\x9c\x9e\x9f") | (frozenset(range(0xC0, 0x100)) - {0xD7, 0xF7})

_ASCII_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _utf8_lines(data: bytes, *, latin_lines: bool) -> tuple[str, str | None]:
    """``data`` decoded as UTF-8 line by line (see :func:`decode`), and the one warning that says
    how many bytes were replaced and which lines were read as Windows-1252."""
    out: list[str] = []
    replaced, replaced_lines, latin = 0, [], []
    for n, line in enumerate(data.splitlines(keepends=True), 1):
        try:
            out.append(line.decode("utf-8"))
            continue
        except UnicodeDecodeError:
            pass
        if latin_lines and _latin1_line(line):
            out.append(_cp1252(line))
            latin.append(n)
            continue
        text = line.decode("utf-8", errors="replace")
        replaced += text.count("\ufffd") - line.count("\ufffd".encode())
        replaced_lines.append(n)
        out.append(text)
    parts = []
    if replaced:
        parts.append(f"{replaced} invalid UTF-8 byte{'s' if replaced > 1 else ''} replaced with U+FFFD ({_lines(replaced_lines)})")
    if latin:
        parts.append(f"{_lines(latin)} read as Windows-1252 (cp1252)")
    return "".join(out), "; ".join(parts) or None


def _latin1_line(line: bytes) -> bool:
    """Whether a line with bad UTF-8 reads as Windows-1252 text: no UTF-8 character in it, and every
    non-ASCII byte a cp1252 letter next to an ASCII letter or between two ASCII characters."""
    if _UTF8_CHAR.search(line):
        return False
    letter = _CP1252_LETTERS
    for i, b in enumerate(line):
        if b < 0x80:
            continue
        if b not in letter:
            return False
        before = line[i - 1] if i else 0
        after = line[i + 1] if i + 1 < len(line) else 0
        alone = before < 0x80 and after < 0x80  # a word of one letter ("à")
        if not alone and before not in _ASCII_LETTERS and after not in _ASCII_LETTERS:
            return False
    return True


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:5])
    more = f" and {len(numbers) - 5} more" if len(numbers) > 5 else ""
    return f"line{'s' if len(numbers) > 1 else ''} {shown}{more}"


def _cp1252(data: bytes) -> str:
    """Windows-1252, Latin-1 for the five bytes cp1252 leaves undefined."""
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return "".join(data[i : i + 1].decode("cp1252", errors="ignore") or chr(data[i]) for i in range(len(data)))


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
    return _not_empty(text)


def _not_empty(text: str) -> str:
    if not text.strip():
        raise SkipFile("empty file")
    return text


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR become LF, so that lines are counted as editors count them."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


