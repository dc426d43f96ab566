"""The sample author's articles, posts and code through the real crawlers: front matter read and
removed, posts told apart by their folder, and the sample configs resolved from the repository root."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "crawl"))

from crawl_helpers import crawl_settings  # noqa: E402

from llm_engineering.application.etl import crawl_links, validate_etl_parameters  # noqa: E402
from llm_engineering.domain.documents import (  # noqa: E402
    ArticleDocument,
    PostDocument,
    RepositoryDocument,
    UserDocument,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample"
BM25 = SAMPLE / "articles" / "03-why-bm25-still-matters.md"


@pytest.fixture
def user():
    return UserDocument.get_or_create_by_name("Jiwon Ashby")


def _crawl(user, links, **kw):
    return crawl_links(user, links, allow_local_files=True, settings=crawl_settings(), progress=False, **kw)


def _after_front_matter(path: Path) -> bytes:
    """The file's bytes after its closing '---' line and the blank lines that follow it."""
    raw = path.read_bytes()
    end = raw.index(b"\n---\n", 3) + len(b"\n---\n")
    return raw[end:].lstrip(b"\n")


def test_front_matter_gives_title_date_and_tags_and_leaves_the_text(user):
    [outcome] = _crawl(user, [str(BM25)])
    assert outcome.status == "ok" and outcome.crawler == "local_files"
    doc = ArticleDocument.find(link=BM25.resolve().as_uri())
    assert doc.content["Title"] == "Why BM25 Still Matters"
    assert doc.content["tags"] == ["retrieval", "bm25", "search"]
    assert doc.published_at == datetime(2025, 2, 21, tzinfo=UTC)
    assert not doc.content["Content"].startswith("---") and "tags:" not in doc.content["Content"]
    assert doc.content["Content"].encode("utf-8") == _after_front_matter(BM25)


def test_korean_articles_keep_every_byte_after_the_front_matter(user):
    korean = [p for p in sorted((SAMPLE / "articles").glob("*.md")) if "한 줄 요약" in p.read_text(encoding="utf-8")]
    assert len(korean) == 5
    [outcome] = _crawl(user, [str(SAMPLE / "articles")])
    assert outcome.status == "ok" and outcome.documents == 19
    for path in korean:
        doc = ArticleDocument.find(link=path.resolve().as_uri())
        assert doc.content["Content"].encode("utf-8") == _after_front_matter(path), path.name
        assert any("\uac00" <= ch <= "\ud7a3" for ch in doc.content["Title"]), doc.content["Title"]


def test_title_falls_back_to_the_heading_then_the_file_name(user, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "heading.md").write_text("---\ndate: 2024-12-31\n---\n# 제목은 여기\n\n본문.\n", encoding="utf-8")
    (notes / "bare-note.md").write_text("---\ntags: 메모\n---\n\n제목 없는 메모.\n", encoding="utf-8")
    plain = "# 앞머리 없음\n\n예전 그대로  남습니다.  \n"
    (notes / "plain.md").write_text(plain, encoding="utf-8")
    (notes / "only-front-matter.md").write_text("---\ntitle: Nothing else\n---\n\n", encoding="utf-8")
    [outcome] = _crawl(user, [str(notes)])
    assert outcome.status == "ok" and outcome.documents == 3  # the one with no text is left out
    docs = {Path(d.link).name: d for d in ArticleDocument.bulk_find(author_id=user.id)}
    assert docs["heading.md"].content["Title"] == "제목은 여기"
    assert docs["heading.md"].published_at == datetime(2024, 12, 31, tzinfo=UTC)
    assert docs["bare-note.md"].content["Title"] == "bare-note"
    assert docs["bare-note.md"].content["tags"] == ["메모"]
    assert docs["bare-note.md"].content["Content"] == "제목 없는 메모.\n"
    assert docs["plain.md"].content["Content"] == plain and "tags" not in docs["plain.md"].content
    mtime = datetime.fromtimestamp((notes / "plain.md").stat().st_mtime, UTC)
    assert docs["plain.md"].published_at == mtime


def test_files_under_a_posts_folder_become_posts(user, tmp_path):
    blog = tmp_path / "posts-archive" / "blog"
    (blog / "posts").mkdir(parents=True)
    (blog / "drafts").mkdir()
    (blog / "posts" / "짧은-글.md").write_text("---\ntitle: 짧은 글\n---\n오늘 배운 것.\n", encoding="utf-8")
    (blog / "drafts" / "long.md").write_text("# Long\n\nAn article.\n", encoding="utf-8")
    outcomes = _crawl(user, [str(blog), str(SAMPLE / "posts" / "01-a-pinch-of-retrieval.md")])
    assert [o.status for o in outcomes] == ["ok", "ok"]
    [second] = _crawl(user, [str(SAMPLE / "posts")])  # a single file in a posts folder was a post too
    assert second.status == "ok" and second.documents == 1 and second.skipped_documents == 1
    posts = {unquote(Path(p.link).name): p for p in PostDocument.bulk_find(author_id=user.id)}
    assert set(posts) == {"짧은-글.md", "01-a-pinch-of-retrieval.md", "02-seoul-meetup-bm25.md"}
    assert all(p.platform == "local" for p in posts.values())
    assert posts["01-a-pinch-of-retrieval.md"].content["tags"] == ["post", "retrieval", "open-source"]
    # "posts-archive" above the linked folder does not make its articles posts
    assert [Path(a.link).name for a in ArticleDocument.bulk_find(author_id=user.id)] == ["long.md"]


@pytest.mark.parametrize("name", ["digital_data_etl.yaml", "digital_data_etl_sample.yaml"])
def test_the_sample_configs_crawl_the_sample_author_from_the_repository_root(name, monkeypatch):
    params = yaml.safe_load((ROOT / "configs" / name).read_text(encoding="utf-8"))["parameters"]
    full_name, links = validate_etl_parameters(params["user_full_name"], params["links"])
    assert full_name == "Jiwon Ashby" and params["allow_local_files"] is True
    monkeypatch.chdir(ROOT)
    user = UserDocument.get_or_create_by_name(full_name)
    outcomes = _crawl(user, links)
    assert [(o.status, o.crawler) for o in outcomes] == [
        ("ok", "local_files"),
        ("ok", "local_files"),
        ("ok", "local_code"),
    ]
    assert (ArticleDocument.count(), PostDocument.count(), RepositoryDocument.count()) == (19, 2, 1)
    [again] = _crawl(user, links[:1])
    assert again.status == "skipped"


def test_relative_links_from_another_directory_fail_with_the_path_tried(user, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    [outcome] = _crawl(user, ["data/sample/articles"])
    assert outcome.status == "failed"
    assert "local path not found: data/sample/articles" in outcome.reason
    assert str(tmp_path / "data" / "sample" / "articles") in outcome.reason
    assert ArticleDocument.count() == 0
