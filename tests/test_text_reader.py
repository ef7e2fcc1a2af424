"""The plain-text reader: paragraphs as passages, a heading-like line as the section of the
passages under it (not a passage of its own), citations on the file's own lines."""

from __future__ import annotations

import glob
from pathlib import Path

from fakes import FakeEncoder
from rag import Retriever, build_index
from rag.documents.chunking import chunk, paragraph_blocks
from rag.documents.readers.text import PlainTextReader

HOUSEPLANTS = """Caring for Houseplants
======================

Light

Most houseplants sold as easy, such as pothos and snake plants, cope with a
room a few metres from a window.

Watering

More houseplants are killed by too much water than by too little. Push a
finger into the compost and water only when the top two or three centimetres
feel dry.

Plants grow slowly in winter, so water them less often.

Repotting

Repot when roots circle the bottom of the pot.
"""


def passages(text: str, source: str = "notes.txt"):
    return chunk(PlainTextReader().parse(source, text.encode("utf-8")))


def test_a_heading_line_is_the_section_of_the_paragraphs_under_it():
    ps = passages(HOUSEPLANTS)
    assert [(p.line_start, p.line_end, p.section) for p in ps] == [
        (6, 7, "Caring for Houseplants > Light"),
        (11, 13, "Caring for Houseplants > Watering"),
        (15, 15, "Caring for Houseplants > Watering"),
        (19, 19, "Caring for Houseplants > Repotting"),
    ]
    lines = HOUSEPLANTS.split("\n")
    for p in ps:  # each passage is its own lines, exactly
        assert "\n".join(lines[p.line_start - 1 : p.line_end]) == p.text


def test_one_line_paragraphs_that_are_not_headings_stay_passages():
    text = (
        "The meeting is on Monday.\n\n"  # ends a sentence
        "Bring the following:\n\n"  # ends with a colon
        "- a pen and paper\n\n"  # a bullet
        "It will be a long meeting, so bring lunch and something to drink as well.\n\n"
        "Jane Smith\n\n"  # a short line followed by another short line (a signature)
        "Head of Research\n\n"
        "Turn over →\n\n"  # not ending in a letter or digit
        "Thanks for reading.\n\n"
        "See you there"  # nothing after it
    )
    ps = passages(text)
    assert [p.text for p in ps] == [t for t in text.split("\n\n")]
    assert {p.section for p in ps} == {None}


def test_a_heading_line_does_not_outrank_the_paragraph_under_it(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "houseplants.txt").write_text(HOUSEPLANTS, encoding="utf-8")
    build_index(seeds, tmp_path / "idx", encoder=FakeEncoder())
    r = Retriever.open(tmp_path / "idx", encoder=FakeEncoder())
    assert all(p.line_start != 9 for p in r.passages)  # "Watering" is not a passage
    hit = r.search("Watering", k=1)[0]  # the word is only in the heading: a paragraph under it
    assert hit.line_start in (11, 15) and hit.section == "Caring for Houseplants > Watering"


def test_the_seed_article_keeps_its_passages():
    # a real article copied from the web: its title lines and its signature-like lines are not
    # followed by prose in the way a heading is, so its passages are its paragraphs, as before
    seed = Path(glob.glob(str(Path(__file__).parent.parent / "seeds" / "000_*.txt"))[0])
    doc = PlainTextReader().parse(seed.name, seed.read_bytes())
    assert [(b.char_start, b.char_end, b.section) for b in doc.blocks] == [
        (b.char_start, b.char_end, None) for b in paragraph_blocks(doc.text)
    ]
