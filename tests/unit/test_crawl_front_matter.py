"""Front matter at the top of local Markdown files: parsed, removed from the text, nothing else touched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from llm_engineering.application.crawlers.local_files import front_matter_date, front_matter_tags, split_front_matter

BODY = "# 한국어 BM25\n\n형태소 분석 없이도  두 칸 공백과 끝 공백이 남습니다.   \n\n**한 줄 요약:** 측정하고 말하자.\n"


def test_block_is_parsed_and_removed_leaving_the_body_exact():
    text = f"---\ntitle: 한국어 BM25\ndate: 2025-03-02\ntags: [검색, bm25]\n---\n\n{BODY}"
    meta, body = split_front_matter(text)
    assert meta == {"title": "한국어 BM25", "date": datetime(2025, 3, 2).date(), "tags": ["검색", "bm25"]}
    assert body == BODY


def test_windows_line_endings_and_an_empty_block():
    meta, body = split_front_matter("---\r\ntitle: Notes\r\n---\r\nText\r\n")
    assert meta == {"title": "Notes"} and body == "Text\r\n"
    meta, body = split_front_matter("---\n---\nOnly text\n")
    assert meta == {} and body == "Only text\n"


@pytest.mark.parametrize(
    "text",
    [
        BODY,  # no block
        "Intro line\n---\ntitle: not at the top\n---\n",  # a block that does not open the file
        "---\n\nJust a rule, then prose without a colon\n\n---\nMore\n",  # YAML string, not a mapping
        "---\ntitle: [unclosed\n---\nBody\n",  # invalid YAML
        "---\ntitle: never closed\n\nBody\n",  # no closing line
    ],
)
def test_text_without_a_yaml_mapping_on_top_is_left_as_written(text):
    assert split_front_matter(text) == ({}, text)


def test_dates_in_the_forms_yaml_gives():
    assert front_matter_date(datetime(2025, 2, 21).date()) == datetime(2025, 2, 21, tzinfo=UTC)
    kst = timezone(timedelta(hours=9))
    assert front_matter_date(datetime(2025, 2, 21, 9, 30, tzinfo=kst)) == datetime(2025, 2, 21, 0, 30, tzinfo=UTC)
    assert front_matter_date("2025-02-21T09:30:00+09:00") == datetime(2025, 2, 21, 0, 30, tzinfo=UTC)
    assert front_matter_date(datetime(2025, 2, 21, 9, 30)) == datetime(2025, 2, 21, 9, 30, tzinfo=UTC)
    assert front_matter_date("last spring") is None
    assert front_matter_date(None) is None


def test_tags_as_a_list_or_one_string():
    assert front_matter_tags(["rag", 2025, " 검색 "]) == ["rag", "2025", "검색"]
    assert front_matter_tags("rag, 검색,") == ["rag", "검색"]
    assert front_matter_tags(None) is None
