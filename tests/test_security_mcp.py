"""MCP tools under hostile arguments: one clear sentence that says what to do, the same request limits
as HTTP (rag.search.limits), and text cleaned where it enters (issue 23, items 5 and 8)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rag import build_index
from rag.search.limits import LIMITS
from rag.service.state import IndexService


@pytest.fixture
def service(seeds: Path, tmp_path: Path, fake_encoder) -> IndexService:
    idx = tmp_path / "idx"
    build_index(seeds, idx, encoder=fake_encoder)
    return IndexService(idx, seeds, encoder=fake_encoder, retry_delay=0.0)


def call_all(service, calls: list[tuple[str, dict]]):
    from mcp import Client

    from rag.service.mcp_server import build_mcp

    async def go():
        async with Client(build_mcp(service)) as c:
            return [await c.call_tool(name, args) for name, args in calls]

    return asyncio.run(go())


@pytest.mark.parametrize("args,says", [
    ({"source": "cats.txt", "start": -1}, "start must be a line number of 1 or more, not -1"),
    ({"source": "cats.txt", "start": 0}, "start must be a line number of 1 or more, not 0"),
    ({"source": "cats.txt", "start": 5, "end": 2}, "end (2) comes before start (5): give an end at or after start"),
    ({"source": "cats.txt", "start": 99}, "cats.txt has 7 lines: give a start from 1 to 7, not 99"),
    ({"source": "cats.txt", "page": 2}, "cats.txt has no pages: leave page out"),
    ({"source": "../cats.txt"}, "names '..'"),
    ({"source": "nope.txt"}, "no document nope.txt in the seeds folder"),
])
def test_get_errors_say_what_to_do_in_one_sentence(service, args, says):
    (res,) = call_all(service, [("get", args)])
    assert res.is_error
    text = res.content[0].text
    assert says in text and "None" not in text and "\n" not in text


def test_search_has_the_limits_of_http(service):
    long = "ships " * (LIMITS.max_question_chars // 6 + 1)
    results = call_all(service, [
        ("search", {"question": long}),
        ("search", {"question": "ships", "k": LIMITS.max_k + 1}),
        ("search", {"question": long[: LIMITS.max_question_chars]}),
    ])
    too_long, too_many, at_limit = results
    assert too_long.is_error and f"longer than {LIMITS.max_question_chars} characters" in too_long.content[0].text
    assert too_many.is_error and "k must be a whole number from 1 to 100" in too_many.content[0].text
    assert not at_limit.is_error


def test_lone_surrogates_are_cleaned_where_they_enter(service):
    (res,) = call_all(service, [("search", {"question": "why \udfff", "history": ["ships \ud800"],
                                           "history_answers": ["\udfff"]})])
    assert not res.is_error
    assert res.structured_content["question"] == "why \ufffd"
    assert res.structured_content["history"] == ["ships \ufffd"]
