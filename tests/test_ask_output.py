"""`rag ask`'s text output (issue 24): the citation, the page and the heading path on the first
line, then the passage with its answer sentence marked where it stands: no sentence twice."""

from __future__ import annotations

from rag.cli.ask import hit_lines
from rag.types import Answer, Hit

PASSAGE = ("The FAA invites comments on the proposal. The FAA must receive comments on this proposed AD by "
           "September 21, 2020. Comments may be sent by fax or mail.")
ANSWER = "The FAA must receive comments on this proposed AD by September 21, 2020."


def hit(text: str, answer: str | None, *, page: int | None = 1, section: str | None = "Proposed Rules > Comments Invited") -> Hit:
    a = None
    if answer is not None:
        at = text.find(answer)
        a = Answer(answer, 0.9, 3, 1, 4, 10, at, at + len(answer))
    return Hit(0, 1, 0.5, text, "notice.pdf", "/x/notice.pdf", 3, 5, 2, 0, len(text), answer=a, page=page, section=section)


def test_first_line_names_citation_page_and_heading_path():
    lines = hit_lines(hit(PASSAGE, ANSWER))
    assert lines[0] == "1. notice.pdf:p1:3-5  (page 1)  § Proposed Rules > Comments Invited"


def test_every_sentence_is_printed_once_the_answer_marked_in_place():
    lines = hit_lines(hit(PASSAGE, ANSWER), width=200)
    body = lines[1:]
    assert body == ["   The FAA invites comments on the proposal.", f"   > {ANSWER}", "   Comments may be sent by fax or mail."]
    joined = " ".join(" ".join(body).replace(">", "").split())
    assert joined.count("September 21, 2020") == 1
    assert joined == PASSAGE


def test_a_one_sentence_passage_is_printed_once():
    lines = hit_lines(hit(ANSWER, ANSWER), width=200)
    assert lines[1:] == [f"   > {ANSWER}"]


def test_without_page_section_or_answer():
    lines = hit_lines(hit("Cats purr when content.", None, page=None, section=None))
    assert lines == ["1. notice.pdf:3-5", "   Cats purr when content."]


def test_text_is_made_safe_for_the_terminal():
    lines = hit_lines(hit("Bad \x1b[31mred\x1b[0m text.", None, section="Head\x1b]0;x\x07ing"))
    assert not any("\x1b" in line or "\x07" in line for line in lines)
