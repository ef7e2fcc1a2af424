"""Encodings line by line (issue 24): a UTF-8 file with a few bad bytes stays UTF-8, UTF-16 with a
byte-order mark is read, only a wholly other encoding is read as Windows-1252, the build records
which files needed it and `rag status` says so, and citations still read back exactly."""

from __future__ import annotations

import codecs
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.documents.decoding import decode
from rag.documents.ingest import SeedFile, read_seed
from rag.documents.readers import reader_for
from rag.search.retriever import Retriever

REPRO = b"Le caf\xc3\xa9 ... cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e ... \xff\n"  # the file


def test_utf8_with_one_bad_byte_stays_utf8():
    text, warning = decode(REPRO)
    assert text == "Le café ... crème brûlée ... \ufffd\n"
    assert warning == "1 invalid UTF-8 byte replaced with U+FFFD (line 1)"


def test_bad_bytes_are_reported_once_with_their_lines():
    data = "Café.\n".encode() + b"bad \xff\xfe here\n" + "Crème.\n".encode() + b"and \x80\n"
    text, warning = decode(data)
    assert text.split("\n")[0] == "Café." and text.split("\n")[2] == "Crème."
    assert warning == "3 invalid UTF-8 bytes replaced with U+FFFD (lines 2, 4)"


def test_a_wholly_windows_1252_file_is_read_as_such():
    text, warning = decode("Naïve résumé, “quoted”, 5 €.\nCrème brûlée.\n".encode("cp1252"))
    assert text == "Naïve résumé, “quoted”, 5 €.\nCrème brûlée.\n"
    assert warning and "Windows-1252" in warning


def test_a_pasted_latin1_line_in_a_utf8_file_is_read_as_windows_1252():
    data = "Le café est prêt.\n".encode() + "Crème brûlée à la maison.\n".encode("cp1252")
    text, warning = decode(data)
    assert text == "Le café est prêt.\nCrème brûlée à la maison.\n"
    assert warning == "line 2 read as Windows-1252 (cp1252)"


@pytest.mark.parametrize("bom, codec", [(codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")])
def test_utf16_with_a_byte_order_mark_is_read(bom, codec):
    assert decode(bom + "Crème brûlée\nline two\n".encode(codec)) == ("Crème brûlée\nline two\n", None)


def test_utf8_bom_with_a_bad_byte_is_read_not_skipped():
    text, warning = decode(codecs.BOM_UTF8 + "crème".encode() + b" \xff\n")
    assert text == "crème \ufffd\n" and warning and "1 invalid" in warning


def test_the_repro_keeps_creme_brulee_and_is_found(tmp_path, fake_encoder):
    from rag import build_index

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "x.txt").write_bytes(b"Le caf\xc3\xa9 du port sert une cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e au dessert \xff\n")
    (seeds / "other.txt").write_text("Le port de commerce accueille des navires.\n", encoding="utf-8")
    (seeds / "ok.txt").write_text("Nothing wrong here.\n", encoding="utf-8")
    idx = tmp_path / "idx"
    stats = build_index(seeds, idx, encoder=fake_encoder)
    assert [w for w in stats.warnings if w.startswith("x.txt")] == ["x.txt: 1 invalid UTF-8 byte replaced with U+FFFD (line 1)"]
    r = Retriever.open(idx, encoder=fake_encoder)
    hits = r.search("crème brûlée", k=1, mode="bm25")
    assert hits[0].source == "x.txt" and "crème brûlée" in hits[0].text
    from rag.index import store

    _, manifest = store.open_meta(idx)
    assert manifest["files"]["x.txt"]["encoding_warning"].startswith("1 invalid UTF-8 byte")
    assert not manifest["files"]["ok.txt"]["encoding_warning"]


def test_status_names_the_files_read_with_a_warning(tmp_path, fake_encoder, capsys):
    from rag import build_index
    from rag.cli import main

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "x.txt").write_bytes(REPRO)
    (seeds / "latin.txt").write_bytes("Crème brûlée.\n".encode("cp1252"))
    (seeds / "ok.txt").write_text("Nothing wrong here.\n", encoding="utf-8")
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    assert main(["status", "--index", str(idx), "--seeds", str(seeds)]) == 0
    out = capsys.readouterr().out
    assert "read:     x.txt: 1 invalid UTF-8 byte replaced with U+FFFD (line 1)\n" in out
    assert "read:     latin.txt: not UTF-8; read as Windows-1252 (cp1252)\n" in out
    assert "ok.txt" not in out
    assert main(["status", "--index", str(idx), "--seeds", str(seeds), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["read_warnings"]
    assert set(got) == {"x.txt", "latin.txt"}


line_st = st.text(alphabet="abcdé ûèXYZ.", min_size=1, max_size=30).filter(str.strip)


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(line_st, min_size=1, max_size=8), bad=st.lists(st.tuples(st.integers(0, 7), st.sampled_from([b"\xff", b"\x80", b"\xc3", b"\xfe\xfe"])), max_size=3),
       blank=st.lists(st.integers(0, 7), max_size=3))
def test_citations_of_a_file_with_bad_bytes_read_back_exactly(tmp_path_factory, lines, bad, blank):
    """Every passage's citation names lines whose text, read back through the same reader, holds
    the passage; the file's line count is kept."""
    from rag.documents.chunking import passages_of

    raw = [ln.encode() for ln in lines]
    for i in blank:
        if i < len(raw):
            raw[i] = b""
    for i, b in bad:
        if i < len(raw):
            raw[i] = raw[i][: len(raw[i]) // 2] + b + raw[i][len(raw[i]) // 2 :]
    data = b"\n".join(raw) + b"\n"
    if not data.strip():
        return
    path = tmp_path_factory.mktemp("enc") / "doc.txt"
    path.write_bytes(data)
    r = read_seed(SeedFile("doc.txt", path))
    assert r.skip is None and r.text is not None
    assert r.text.count("\n") == data.count(b"\n")
    back = reader_for(path).read(path, source="doc.txt")
    lines_back = back.lines()
    for p in passages_of("doc.txt", r.text):
        cited = "\n".join(lines_back[p.line_start - 1 : p.line_end])
        assert " ".join(p.text.split()) in " ".join(cited.split())
