"""Web-page chrome saved with an article ("Leave a Reply", "Up ↑", ...) is not indexed."""

from __future__ import annotations

import glob
from pathlib import Path

from fakes import FakeEncoder
from rag import Retriever, build_index
from rag.documents.boilerplate import is_boilerplate
from rag.documents.chunking import chunk, paragraphs, passages_of
from rag.documents.readers.text import PlainTextReader

CHROME = (
    "Leave a Reply\n\nFill in your details below or click an icon to log in: Logo\n\n"
    "You are commenting using your Twitter account. Log\u00a0Out\u00a0/\u00a0 Change\u00a0)\n\n"
    "Twitter picture\n\nConnecting to %s\n\nBlog at\n\nUp \u2191\n\n%d bloggers like this:\n"
)


def test_chrome_paragraphs_are_boilerplate_and_prose_is_not():
    for para in CHROME.strip().split("\n\n"):
        assert is_boilerplate(para), para
    for para in [
        "Please leave a reply below if you found a mistake in the derivation of the second equation.",
        "Leave a Reply\nThe committee met on Monday and agreed to fund the new bridge over the river.",
        "Twitter account suspended for a week",
        "The minister said the talks would resume.",
        "Home", "Related", "Name", "Up", "Follow",  # a plain-text heading of one common word is kept
    ]:
        assert not is_boilerplate(para), para


def test_the_seed_article_loses_only_its_comment_form():
    seed = Path(glob.glob(str(Path(__file__).parent.parent / "seeds" / "000_*.txt"))[0])
    doc = PlainTextReader().parse(seed.name, seed.read_bytes())
    ps = chunk(doc)
    kept = {p.line_start for p in ps}
    paras = paragraphs(doc.text)
    seen = [" ".join(p.text.split()) for p in paras]
    repeated = {p.line_start for i, p in enumerate(paras) if seen[i] in seen[:i]}
    dropped = [p.text for p in paras if p.line_start not in kept | repeated]
    assert len(dropped) == 11 and dropped[0] == "Leave a Reply" and dropped[-1] == "%d bloggers like this:"
    for p in ps:  # the rest cite their own lines, as before
        assert "\n".join(doc.lines()[p.line_start - 1 : p.line_end]).strip() == p.text.strip()


def test_chrome_does_not_outrank_the_article(tmp_path):
    article = (
        "The senator said the account of the meeting on Twitter was wrong.\n\n"
        "Talks on the treaty resume in Geneva next week.\n\n"
    )
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "post.txt").write_text(article + CHROME, encoding="utf-8")
    assert len(passages_of("post.txt", article + CHROME)) == 2
    enc = FakeEncoder()
    build_index(seeds, tmp_path / "idx", encoder=enc)
    r = Retriever.open(tmp_path / "idx", encoder=enc)
    hits = r.search("twitter account", k=5, mode="bm25")
    assert [h.line_start for h in hits] == [1]
    assert all(not is_boilerplate(h.text) for h in r.search("leave a reply log in", k=5, mode="hybrid"))
