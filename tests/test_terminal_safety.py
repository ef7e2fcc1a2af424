"""Text from documents, file names, questions and errors never reaches a terminal as control sequences.

Unit tests of :mod:`rag.terminal_text`, then the real CLI (``rag index``, ``rag status``, ``rag ask``
as subprocesses, raw bytes checked) and the real terminal UI (``rag chat`` on a pseudo-terminal,
every byte it writes checked) on a seeds folder with a hostile document and hostile file names.
"""

from __future__ import annotations

import ast
import errno
import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.terminal_text import json_dumps, terminal_line, terminal_safe


def _readable(fd: int, timeout: float) -> bool:
    """Whether ``fd`` has something to read (or its other end closed) within ``timeout`` seconds; poll(),
    not select(), which refuses descriptors numbered 1024 and above (a long test run opens many)."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(timeout * 1000))


ROOT = Path(__file__).resolve().parents[1]

# The issue's seed: clear the screen, retitle the window, plant a hyperlink.
HOSTILE = "\x1b[2J\x1b]0;PWNED\x07\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\"
SHOWN = "␛[2J␛]0;PWNED␇␛]8;;https://evil.example␛\\click␛]8;;␛\\"  # how it is shown instead
MARKER = "Quillfeather"  # a word of the hostile passage that no question contains
QUESTION = "When did the lighthouse keeper light the lamp?"

# Sequences that must never be written: they can only come from the seeds or the file names.
FORBIDDEN = [
    b"\x1b]0;PWNED",
    b"PWNED\x07",
    b"\x1b]8;;https://evil.example",
    b"\x1b[2J\x1b]0;",
    b"\x1b]0;NAMED",
    b"NAMED\x07",
    b"\x1b[2Jempty",
    b"\x1b]8;;https:\\\\latin.example",
]

UNSAFE = {*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def unsafe_chars(text: str, allowed: str = "") -> list[str]:
    return [c for c in text if (ord(c) in UNSAFE or 0xD800 <= ord(c) < 0xE000) and c not in allowed]


# --------------------------------------------------------------------------- the function


def test_the_issue_seed_is_shown_visibly_and_keeps_its_length():
    shown = terminal_safe(HOSTILE)
    assert shown == SHOWN
    assert len(shown) == len(HOSTILE)  # one character for one: the UI's highlight offsets hold
    assert not unsafe_chars(shown)


def test_each_kind_of_control_character():
    assert terminal_safe("a\x00b\x08c\rd\x7fe") == "a␀b␈c␍d␡e"
    assert terminal_safe("csi\x9b31m nel\x85") == "csi\ufffd31m nel\ufffd"  # C1 (CSI, NEL)
    assert terminal_safe("abc\u202edcba\u2066x\u2069") == "abc\ufffddcba\ufffdx\ufffd"  # bidi overrides
    assert terminal_safe("name\udcff\udc9b.txt") == "name\ufffd\ufffd.txt"  # undecodable bytes of a file name
    assert terminal_safe("مرحبا \u200f שלום") == "مرحبا \u200f שלום"  # RTL text and RLM stay


def test_newline_and_tab_kept_for_layout_replaced_on_one_line():
    assert terminal_safe("a\nb\tc") == "a\nb\tc"
    assert terminal_line("a\nb\tc") == "a␊b␉c"
    assert terminal_safe("a\nb\tc", keep="\t") == "a␊b\tc"
    with pytest.raises(ValueError):
        terminal_safe("x", keep="\x1b")


def test_non_strings_are_shown_by_their_str():
    from rag.types import Citation

    assert terminal_line(Citation("a\x1b[2J.txt", 3, 4)) == str(Citation("a␛[2J.txt", 3, 4))
    assert terminal_line(OSError("bad\x07 path")) == "bad␇ path"


@given(st.text())
def test_output_has_no_control_characters_but_newline_and_tab(text):
    shown = terminal_safe(text)
    assert not unsafe_chars(shown, allowed="\n\t")
    assert not unsafe_chars(terminal_line(text))
    assert len(shown) == len(text)
    assert terminal_safe(shown) == shown
    shown.encode("utf-8")  # no lone surrogate left: strict UTF-8 output cannot fail


PRINTABLE = st.characters(
    blacklist_categories=("Cc", "Cs"),
    blacklist_characters=[chr(c) for c in UNSAFE],
)


@given(st.text(PRINTABLE))
def test_printable_text_is_unchanged(text):
    assert terminal_safe(text) == text
    assert terminal_line(text) == text
    assert terminal_safe(text + "\n\t" + text) == text + "\n\t" + text


@given(st.text())
def test_json_keeps_the_exact_text_and_writes_no_control_character(text):
    out = json_dumps({"text": text, "list": [text]})
    assert json.loads(out) == {"text": text, "list": [text]}
    assert not unsafe_chars(out)


# --------------------------------------------------------------------------- the real CLI

NAMED = "cat\x1b]0;NAMED\x07.txt"  # an indexed file whose name holds an escape sequence
EMPTY = "empty\x1b[2Jempty.txt"  # a skipped file (empty), named with an escape sequence
LATIN = "latin\x1b]8;;https:\\\\latin.example\x1b\\.txt"  # not UTF-8: indexed with a warning (no "/" in a name)


def write_hostile_seeds(seeds: Path) -> bool:
    """The hostile document and, where the filesystem allows it, the hostile file names."""
    seeds.mkdir(parents=True)
    (seeds / "lighthouse.txt").write_text(
        "Lighthouse notes\n\n"
        f"The lighthouse keeper {HOSTILE} lit the lamp every evening at dusk, wrote {MARKER}.\n\n"
        "Ships passed the rocks safely in the winter storms.\n",
        encoding="utf-8",
    )
    try:
        (seeds / NAMED).write_text("Cats sleep for most of the day and hunt at dawn.\n", encoding="utf-8")
        (seeds / EMPTY).write_text("", encoding="utf-8")
        (seeds / LATIN).write_bytes("Caf\xe9 au lait by the harbour wall.\n".encode("cp1252"))
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.EILSEQ, errno.ENAMETOOLONG):
            return False
        raise
    return True


def rag(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "rag", *args], cwd=cwd, capture_output=True, timeout=timeout, env=env
    )


def assert_clean(raw: bytes) -> None:
    """No byte the terminal would act on: no ESC, no BEL, no C1 control (decoded: 0x9b can be
    an ordinary continuation byte of UTF-8, e.g. of the ␛ shown instead of ESC)."""
    assert b"\x1b" not in raw and b"\x07" not in raw, raw[:2000]
    text = raw.decode("utf-8")
    assert not unsafe_chars(text, allowed="\n\t"), [c for c in unsafe_chars(text, allowed="\n\t")][:5]


@pytest.fixture(scope="module")
def hostile(real_index, tmp_path_factory):
    """(work dir, seeds, index, names planted?, `rag index` result): the hostile seeds indexed by
    the real CLI with the real model. The query-encoder export is the session's (one per model, in
    the user cache the session points at; the real index made it), so this build does not export."""
    work = tmp_path_factory.mktemp("hostile")
    seeds = work / "seeds"
    names = write_hostile_seeds(seeds)
    index = work / "indexes" / "default"
    index.mkdir(parents=True)
    built = rag("index", "--seeds", str(seeds), "--index", str(index), cwd=work)
    assert built.returncode == 0, built.stderr.decode("utf-8", "replace")
    return work, seeds, index, names, built


@pytest.mark.e2e
def test_cli_index_summary_shows_hostile_names_visibly(hostile):
    work, seeds, index, names, built = hostile
    assert_clean(built.stdout + built.stderr)
    err = built.stderr.decode("utf-8")
    if names:
        assert f"skipped {terminal_line(EMPTY)}: empty file" in err
        assert f"warning: {terminal_line(LATIN)}" in err
    # the same build again: nothing changed, a summary line, still clean
    again = rag("index", "--seeds", str(seeds), "--index", str(index), cwd=work)
    assert again.returncode == 0
    assert_clean(again.stdout + again.stderr)


@pytest.mark.e2e
def test_cli_status_shows_hostile_names_visibly(hostile):
    work, seeds, index, names, _ = hostile
    p = rag("status", "--seeds", str(seeds), "--index", str(index), cwd=work)
    assert p.returncode == 0, p.stderr
    assert_clean(p.stdout + p.stderr)
    if names:
        assert f"skipped:  {terminal_line(EMPTY)}: empty file" in p.stdout.decode("utf-8")
        (seeds / ("new\x1b]0;PWNED\x07.txt")).write_text("A new note on tides.\n", encoding="utf-8")
        try:
            p = rag("status", "--seeds", str(seeds), "--index", str(index), cwd=work)
        finally:
            (seeds / ("new\x1b]0;PWNED\x07.txt")).unlink()
        assert_clean(p.stdout + p.stderr)
        assert "  added    new␛]0;PWNED␇.txt" in p.stdout.decode("utf-8")
    j = rag("status", "--seeds", str(seeds), "--index", str(index), "--json", cwd=work)
    assert_clean(j.stdout)
    if names:
        assert json.loads(j.stdout)["skipped"] == {EMPTY: "empty file"}


@pytest.mark.e2e
def test_cli_ask_shows_the_hostile_passage_visibly(hostile):
    work, seeds, index, names, _ = hostile
    p = rag("ask", QUESTION, "-k", "5", "--seeds", str(seeds), "--index", str(index), cwd=work)
    assert p.returncode == 0, p.stderr
    assert_clean(p.stdout + p.stderr)
    out = p.stdout.decode("utf-8")
    assert MARKER in out and SHOWN in out  # the passage is there, its sequences shown as text
    if names:
        assert "cat␛]0;NAMED␇.txt:1" in out


@pytest.mark.e2e
def test_cli_ask_json_keeps_the_exact_text(hostile):
    work, seeds, index, names, _ = hostile
    question = QUESTION + " \x1b]0;PWNED\x07 \x9b"
    p = rag("ask", question, "-k", "5", "--json", "--seeds", str(seeds), "--index", str(index), cwd=work)
    assert p.returncode == 0, p.stderr
    assert_clean(p.stdout + p.stderr)
    out = json.loads(p.stdout)
    assert out["question"] == question
    texts = [h["text"] for h in out["hits"]]
    assert any(HOSTILE in t and MARKER in t for t in texts), texts
    if names:
        assert any(h["source"] == NAMED for h in out["hits"])


@pytest.mark.e2e
def test_cli_errors_and_usage_errors_are_clean(hostile):
    work, seeds, index, names, _ = hostile
    bad = str(work / "missing\x1b]0;PWNED\x07")
    p = rag("ask", "anything", "--seeds", bad, "--index", bad, cwd=work)
    assert p.returncode == 1
    assert_clean(p.stdout + p.stderr)
    err = p.stderr.decode("utf-8")
    assert err.startswith("rag: ") and err.count("\n") == 1 and "missing␛]0;PWNED␇" in err
    p = rag("status", "--index", str(index), "\x1b]0;PWNED\x07", cwd=work)
    assert p.returncode == 2
    assert_clean(p.stdout + p.stderr)


# --------------------------------------------------------------------------- the real UI on a pty


class Pty:
    """A program on a pseudo-terminal: what it writes is kept, byte for byte."""

    def __init__(self, argv: list[str], cwd: Path, rows: int = 50, cols: int = 120) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = dict(os.environ, PYTHONPATH=str(ROOT), TERM="xterm-256color", COLORTERM="truecolor",
                   HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        for name in ("COLUMNS", "LINES", "TEXTUAL", "NO_COLOR"):
            env.pop(name, None)
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        self.fd = master
        self.out = bytearray()

    def read_until(self, needle: bytes | re.Pattern, timeout: float, start: int = 0) -> int:
        """Read until ``needle`` (bytes or a bytes pattern) appears after offset ``start``; returns
        where it ends."""
        deadline = time.monotonic() + timeout
        while True:
            if isinstance(needle, bytes):
                i = self.out.find(needle, start)
                if i >= 0:
                    return i + len(needle)
            else:
                m = needle.search(self.out, start)
                if m:
                    return m.end()
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 1.0)):
                tail = bytes(self.out[-3000:]).decode("utf-8", "replace")
                raise AssertionError(f"{needle!r} never appeared (exit {self.proc.poll()}); last output: {tail!r}")

    def _read(self, wait: float) -> bool:
        """False once the program has exited and nothing is left to read."""
        ready = _readable(self.fd, wait)
        if not ready:
            return self.proc.poll() is None
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the other side is closed
            return False
        self.out += data
        return bool(data)

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def finish(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(0.5):
            pass
        try:
            return self.proc.wait(max(0.1, deadline - time.monotonic()))
        finally:
            os.close(self.fd)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.mark.e2e
@pytest.mark.slow
def test_tui_on_a_pty_writes_no_sequence_from_the_seeds(hostile):
    work, seeds, index, names, _ = hostile
    term = Pty([sys.executable, "-m", "rag", "chat", "--seeds", str(seeds), "--index", str(index)], cwd=work)
    try:
        term.read_until("Ask your documents".encode(), timeout=120)  # first frame: keys now reach the app
        start = len(term.out)
        term.write(QUESTION.encode() + b"\r")
        term.read_until(MARKER.encode(), timeout=240, start=start)  # the hostile passage is on screen
        leaked = [seq for seq in FORBIDDEN if seq in term.out]
        assert not leaked, leaked  # written raw to the terminal with the answer
        shown_in_log = term.read_until(SHOWN.split("click")[0].encode(), timeout=60, start=start)
        start = len(term.out)
        term.write(b"\t\r")  # tab to the first passage, enter opens its source file
        cited_gutter = re.compile(rb" [0-9]+(?:\x1b\[[0-9;]*m)*" + "▐ ".encode())  # " 3▐ ", styled
        gutter = term.read_until(cited_gutter, timeout=60, start=start)  # the source view is drawn
        term.read_until(SHOWN.split("click")[0].encode(), timeout=60, start=gutter - 20)
        term.write(b"\x11")  # ctrl+q
        rc = term.finish(timeout=60)
    finally:
        term.kill()
    out = bytes(term.out)
    assert rc == 0, out[-2000:]
    assert shown_in_log > 0
    for seq in FORBIDDEN:
        assert seq not in out, seq
    text = out.decode("utf-8", "replace")
    assert "\x9b" not in text and "\x85" not in text  # no C1 control written as a character
    if names:
        assert "cat␛]0;NAMED␇.txt" in text or "cat␛]0;NAMED␇" in text


# --------------------------------------------------------------------------- the UI's code


def test_every_toast_of_the_app_is_plain_text():
    """Toasts carry file names, errors and document text: never as markup (``[@click=...]``)."""
    missing = []
    for path in sorted((ROOT / "tui").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "notify":
                target = node.func.value
                if isinstance(target, ast.Call) and getattr(target.func, "id", None) == "super":
                    continue  # the app's own override, which passes its caller's choice on
                kw = {k.arg: k.value for k in node.keywords}
                if not (isinstance(kw.get("markup"), ast.Constant) and kw["markup"].value is False):
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not missing, missing
