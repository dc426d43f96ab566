"""Which crawler handles which link, and which links are refused before any fetch."""

from __future__ import annotations

import pytest

from llm_engineering.application.crawlers import CrawlerDispatcher, CrawlError, load_crawlers
from llm_engineering.application.crawlers.dispatcher import platform_for
from llm_engineering.application.crawlers.github import GithubCrawler
from llm_engineering.application.crawlers.medium import MediumCrawler
from llm_engineering.infrastructure.http import FetchError, NetworkPolicy, check_url


@pytest.mark.parametrize(
    ("link", "crawler"),
    [
        ("https://medium.com/@dana/shipping-a-feature-store-3f2a9c1b7e40", "medium"),
        ("https://dana.medium.com/shipping-a-feature-store-3f2a9c1b7e40", "medium"),
        ("https://smallmodels.substack.com/p/the-quiet-cost", "substack"),
        ("https://velog.io/@minji/임베딩-모델", "velog"),
        ("https://devdiary.tistory.com/42", "tistory"),
        ("https://blog.naver.com/seoyeon/223344556677", "naver_blog"),
        ("https://github.com/owner/project", "github"),
        ("https://github.com/owner/project/tree/main/src", "github"),
        ("https://www.linkedin.com/posts/dana_activity-1", "linkedin"),
        ("https://dana.notion.site/Reading-list-0123", "notion_page"),
        ("https://medium.com/feed/@dana", "feed"),
        ("https://example.org/blog/rss.xml", "feed"),
        ("https://example.org/posts/idempotent-pipelines", "article"),
        ("HTTPS://EXAMPLE.ORG/Post", "article"),
    ],
)
def test_links_go_to_their_platform_crawler(link, crawler):
    assert CrawlerDispatcher().get_crawler(link).name == crawler


def test_every_platform_registers_itself():
    names = set(load_crawlers())
    assert {
        "article",
        "feed",
        "medium",
        "substack",
        "velog",
        "tistory",
        "naver_blog",
        "github",
        "linkedin",
        "linkedin_export",
        "notion_export",
        "notion_page",
        "local_files",
        "local_code",
    } <= names


def test_a_new_crawler_class_is_dispatched_without_editing_anything():
    from llm_engineering.application.crawlers.article import ArticleCrawler
    from llm_engineering.application.crawlers.base import CRAWLERS

    class ExampleZineCrawler(ArticleCrawler):
        name = "example_zine"
        platform = "example_zine"
        url_patterns = (r"^https?://zine\.example\.net/",)

    try:
        assert CrawlerDispatcher().get_crawler("https://zine.example.net/issue/7").name == "example_zine"
        assert platform_for("https://zine.example.net/feed") == "example_zine"
    finally:
        CRAWLERS.pop("example_zine")


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ("", "malformed URL"),
        ("   ", "malformed URL"),
        ("example.org/no-scheme", "no scheme"),
        ("http://", "no valid host"),
        ("http://exa mple.org/x", "malformed URL"),
        ("http://[::1/x", "malformed URL"),
        ("ftp://files.example.org/essay.txt", "unsupported scheme ftp:"),
        ("javascript:alert(1)", "unsupported scheme javascript:"),
        ("file:///etc/passwd", "unsupported scheme file:"),
        ("/etc/hostname", "no scheme"),
    ],
)
def test_malformed_and_unsupported_links_are_refused_with_a_reason(link, message):
    with pytest.raises(CrawlError, match=message):
        CrawlerDispatcher().get_crawler(link)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/",
        "http://localhost/admin",
        "http://10.0.0.5/",
        "http://192.168.1.1/router",
        "http://172.16.3.4/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(url):
    with pytest.raises(FetchError, match="non-public address|cloud metadata"):
        check_url(url, NetworkPolicy(""))
    assert check_url(url) == url  # syntax only


def test_local_paths_need_permission(tmp_path):
    note = tmp_path / "메모.md"
    note.write_text("# 제목\n본문", encoding="utf-8")
    with pytest.raises(CrawlError, match="unsupported scheme file:"):
        CrawlerDispatcher().get_crawler(note.as_uri())
    assert CrawlerDispatcher(allow_local_files=True).get_crawler(note.as_uri()).name == "local_files"
    assert CrawlerDispatcher(allow_local_files=True).get_crawler(str(note)).name == "local_files"
    with pytest.raises(CrawlError, match="not found"):
        CrawlerDispatcher(allow_local_files=True).get_crawler(str(tmp_path / "missing.md"))


def test_medium_feed_location_is_derived_from_the_article_link():
    assert MediumCrawler.feed_url("https://medium.com/@dana/a-post-3f2a9c1b7e40") == "https://medium.com/feed/@dana"
    assert MediumCrawler.feed_url("https://dana.medium.com/a-post-3f2a9c1b7e40") == "https://dana.medium.com/feed"
    with pytest.raises(CrawlError):
        MediumCrawler.feed_url("https://medium.com/p/3f2a9c1b7e40")


def test_github_links_name_the_repository():
    assert GithubCrawler.repository_url("https://github.com/owner/project/tree/main/src?x=1") == (
        "https://github.com/owner/project",
        "project",
    )
    assert GithubCrawler.repository_url("http://www.github.com/owner/project.git") == (
        "https://github.com/owner/project",
        "project",
    )
    with pytest.raises(CrawlError, match="not a GitHub repository"):
        GithubCrawler.repository_url("https://github.com/owner")


def test_velog_profile_links_map_to_the_authors_feed():
    from llm_engineering.application.crawlers.velog import feed_url, profile_handle

    assert profile_handle("https://velog.io/@minji") == "minji"
    assert profile_handle("https://velog.io/@minji/posts") == "minji"
    assert profile_handle("https://velog.io/@minji/임베딩-모델") is None
    assert feed_url("https://velog.io/@minji", "minji") == "https://v2.velog.io/rss/@minji"
