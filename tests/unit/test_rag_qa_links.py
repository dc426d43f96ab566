"""QA files may name local documents by a path relative to the file itself."""

from __future__ import annotations

import json

import pytest

from llm_engineering.application.crawlers.base import file_link
from llm_engineering.application.rag.evaluation import QAFileError, load_qa


def test_relative_links_become_the_file_uris_the_crawler_stores(tmp_path):
    (tmp_path / "articles").mkdir()
    article = tmp_path / "articles" / "한글-글.md"
    article.write_text("# 제목\n\n본문", encoding="utf-8")
    qa = tmp_path / "qa.jsonl"
    rows = [
        {"question": "무엇?", "link": "articles/한글-글.md"},
        {"question": "web?", "link": "https://blog.example/post"},
    ]
    qa.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    loaded = load_qa(qa)
    assert loaded[0]["link"] == file_link(article)
    assert loaded[1]["link"] == "https://blog.example/post"


def test_a_line_without_link_is_refused(tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "no link"}\n')
    with pytest.raises(QAFileError, match="link"):
        load_qa(qa)
