"""Selenium crawlers on real headless Chromium (one browser for the whole module)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "crawl"))

from crawl_helpers import FixtureServer, crawl_settings, feed, page  # noqa: E402

from llm_engineering.application.crawlers import CrawlContext, CrawlError  # noqa: E402
from llm_engineering.application.crawlers.medium import MediumCrawler  # noqa: E402
from llm_engineering.application.crawlers.notion_page import NotionPageCrawler  # noqa: E402
from llm_engineering.domain.documents import UserDocument  # noqa: E402
from llm_engineering.infrastructure.browser import SharedBrowser, chromium_problem  # noqa: E402
from llm_engineering.infrastructure.http import Fetcher  # noqa: E402

ARTICLE = "/@danakim/shipping-a-feature-store-on-a-laptop-3f2a9c1b7e40"
BLOCKED = "/@danakim/why-i-log-every-failure-a1b2c3d4e5f6"
BLOCKED_NOT_IN_FEED = "/@danakim/an-old-story-0011223344aa"

pytestmark = pytest.mark.skipif(chromium_problem(crawl_settings()) is not None, reason=str(chromium_problem()))


@pytest.fixture(scope="module")
def server():
    routes = {
        ARTICLE: page("medium_article.html"),
        BLOCKED: page("medium_botcheck.html"),
        BLOCKED_NOT_IN_FEED: page("medium_botcheck.html"),
        "/feed/@danakim": feed("medium_feed.xml"),
        "/Reading-list-for-small-models-5e6f7a8b9c0d": page("notion_page.html"),
        "/Never-renders-5e6f7a8b9c0e": page("empty_article.html"),
    }
    with FixtureServer(routes) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    shared = SharedBrowser(crawl_settings())
    yield shared
    shared.close()


@pytest.fixture
def context(browser):
    settings = crawl_settings(CRAWL_TIMEOUT_S=5.0)
    with Fetcher(settings) as fetcher:
        yield CrawlContext(settings=settings, fetcher=fetcher, browser=browser)


@pytest.fixture
def user():
    return UserDocument.get_or_create_by_name("Dana Kim")


def test_medium_article_through_chromium(server, context, user):
    link = server.url(ARTICLE)
    [doc] = MediumCrawler().crawl(link, user, context)
    assert doc.platform == "medium" and doc.link == link
    assert doc.content["Title"] == "Shipping a Feature Store on a Laptop"
    assert "network round trips, not model inference, dominated our latency" in doc.content["Content"]
    assert "Sign in" not in doc.content["Content"]
    assert doc.published_at.isoformat().startswith("2024-05-14T08:30")


def test_medium_bot_check_falls_back_to_the_rss_feed(server, context, user):
    link = server.url(BLOCKED)
    [doc] = MediumCrawler().crawl(link, user, context)
    assert doc.link == link  # stored under the requested link, not the feed's tracking URL
    assert doc.content["Title"] == "Why I Log Every Failure"
    assert doc.content["Content"].startswith("A batch job that stops at the first bad record")
    assert doc.published_at.isoformat() == "2024-03-01T09:00:00+00:00"


def test_medium_bot_check_for_an_article_missing_from_the_feed_fails_clearly(server, context, user):
    with pytest.raises(CrawlError, match="bot-check page .* not in the author's RSS feed"):
        MediumCrawler().crawl(server.url(BLOCKED_NOT_IN_FEED), user, context)


def test_public_notion_page_waits_for_javascript_content(server, context, user):
    [doc] = NotionPageCrawler().crawl(server.url("/Reading-list-for-small-models-5e6f7a8b9c0d"), user, context)
    assert doc.platform == "notion"
    assert doc.content["Title"] == "Reading list for small models"
    assert "most wrong answers come from the wrong passage" in doc.content["Content"]


def test_notion_page_that_never_renders_is_an_empty_article(server, user, browser):
    settings = crawl_settings(CRAWL_TIMEOUT_S=1.0)
    with Fetcher(settings) as fetcher:
        context = CrawlContext(settings=settings, fetcher=fetcher, browser=browser)
        with pytest.raises(CrawlError, match="empty article"):
            NotionPageCrawler().crawl(server.url("/Never-renders-5e6f7a8b9c0e"), user, context)
