"""Text made safe to show on a terminal: no control characters, so no escape sequences.

Document text, file names, questions and error messages may contain anything. Written raw, an ESC
(or the C1 CSI, U+009B) starts a sequence the terminal obeys: clear the screen (``ESC [2J``),
retitle the window (``ESC ]0;…BEL``), plant a hyperlink (``ESC ]8;;URL ESC \\``); a carriage
return or backspace overwrites what was shown. Every such sequence needs a control character to
start, so replacing each control character by a visible one neutralizes all of them (CSI, OSC,
DCS, APC, two-character ESC sequences, complete or cut short): the rest of a sequence is ordinary
printable text and shows as such, e.g. ``␛]0;PWNED␇``.

Each character that is replaced becomes exactly ONE visible character, so offsets into the text
(the UI's highlights of matched words and answer sentences) still hold:

- C0 controls U+0000-U+001F -> their Control Pictures U+2400-U+241F (ESC ``␛``, BEL ``␇``, CR ``␍``);
- DEL U+007F -> ``␡`` (U+2421);
- C1 controls U+0080-U+009F -> ``�`` (U+FFFD; Unicode has no pictures for them);
- bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) -> ``�``: they can
  make a terminal that applies bidi show text in another order than it is stored ("Trojan Source");
  right-to-left text itself and the plain marks LRM/RLM are left alone;
- lone surrogates (undecodable bytes of a file name, kept by ``os`` as U+DC80-U+DCFF) -> ``�``:
  written with the ``surrogateescape`` error handler they would become raw bytes again, C1 included,
  and with ``strict`` they would crash the output.

Newline and tab are kept by :func:`terminal_safe` (multi-line text: passages, notes, a source
file's lines keep their tabs for layout); :func:`terminal_line` replaces them too (``␊``, ``␉``), for
text that must stay on one line: file names, paths, one-line error messages.

:func:`json_dumps` is the other half: JSON output keeps the exact text, with every character that
a terminal could act on written as a ``\\uXXXX`` escape.
"""

from __future__ import annotations

import json
import re

_PICTURE_DEL = "\u2421"
_REPLACEMENT = "\ufffd"
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]

_TABLE: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20)}
_TABLE[0x7F] = _PICTURE_DEL
_TABLE.update({c: _REPLACEMENT for c in range(0x80, 0xA0)})
_TABLE.update({c: _REPLACEMENT for c in _BIDI})
_TABLE.update({c: _REPLACEMENT for c in range(0xD800, 0xE000)})

# The characters replaced, as a regular-expression class (also used by json_dumps).
_UNSAFE_CLASS = "\\x00-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069\\ud800-\\udfff"
_UNSAFE = re.compile(f"[{_UNSAFE_CLASS}]")
# JSON also escapes the bidi marks (LRM, RLM, ALM) that the terminal keeps: a JSON string written
# as \uXXXX means the same text, and no viewer of the raw bytes reorders around them.
_UNSAFE_IN_JSON = re.compile("[\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\ud800-\\udfff]")

KEEP_LAYOUT = "\n\t"
_TABLE_KEEP_LAYOUT = {c: v for c, v in _TABLE.items() if chr(c) not in KEEP_LAYOUT}


def terminal_safe(text: object, keep: str = KEEP_LAYOUT) -> str:
    """``text`` (``str()`` of it) with every control character shown as one visible character.

    ``keep`` names the whitespace controls left as they are: newline and tab by default, any
    subset of ``"\\n\\t"``. Printable text comes back unchanged.
    """
    if keep and keep != KEEP_LAYOUT and set(keep) - set(KEEP_LAYOUT):
        raise ValueError(f"keep may hold only newline and tab, not {keep!r}")
    s = text if isinstance(text, str) else str(text)
    if not _UNSAFE.search(s):
        return s
    if keep == KEEP_LAYOUT:
        return s.translate(_TABLE_KEEP_LAYOUT)
    if not keep:
        return s.translate(_TABLE)
    return s.translate({c: v for c, v in _TABLE.items() if chr(c) not in keep})


def terminal_line(text: object) -> str:
    """``text`` as one safe line: newline and tab are shown as ``␊`` and ``␉`` too."""
    return terminal_safe(text, keep="")


def json_dumps(obj: object) -> str:
    """``json.dumps(obj, ensure_ascii=False)`` with no character a terminal could act on.

    ``json`` already escapes U+0000-U+001F; this also escapes DEL, the C1 controls, the bidi
    controls and marks (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C) and lone surrogates
    as ``\\uXXXX``, so the parsed value is exactly ``obj`` while the bytes written are plain
    printable UTF-8.
    """
    return json_escaped(json.dumps(obj, ensure_ascii=False))


def json_escaped(json_text: str) -> str:
    """JSON text (another serializer's) with the characters :func:`json_dumps` escapes as ``\\uXXXX``.

    These characters can only occur inside JSON strings (never in its syntax), where ``\\uXXXX``
    means the same character: the parsed value is unchanged.
    """
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", json_text)

