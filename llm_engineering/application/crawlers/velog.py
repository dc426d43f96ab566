"""Velog (velog.io), a Korean developer blog platform: posts are server-rendered, so the generic
extraction fits; ``velog.io/@user`` alone is a profile and goes through the author's RSS feed."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from llm_engineering.application.crawlers.article import ArticleCrawler
from llm_engineering.application.crawlers.base import CrawlContext
from llm_engineering.application.crawlers.feed import articles_from_feed
from llm_engineering.domain.documents import Document, UserDocument

_PROFILE = re.compile(r"^/@([^/]+)/?(?:posts/?)?$")


def profile_handle(link: str) -> str | None:
    """``minji`` for ``https://velog.io/@minji`` (or ``/@minji/posts``); None for a post link."""
    match = _PROFILE.match(urlsplit(link).path)
    return match.group(1) if match else None


def feed_url(link: str, handle: str) -> str:
    """Velog serves author feeds from v2.velog.io; another host (a mirror) from its own /rss/."""
    parts = urlsplit(link)
    if (parts.hostname or "").endswith("velog.io"):
        return f"https://v2.velog.io/rss/@{handle}"
    return f"{parts.scheme}://{parts.netloc}/rss/@{handle}"


class VelogCrawler(ArticleCrawler):
    name = "velog"
    platform = "velog"
    url_patterns = (r"^https?://(www\.)?velog\.io/",)

    def crawl(self, link: str, user: UserDocument, context: CrawlContext) -> list[Document]:
        handle = profile_handle(link)
        if handle:
            feed = context.fetcher.fetch(feed_url(link, handle))
            return articles_from_feed(feed.text, link, user, context, platform=self.platform)
        return super().crawl(link, user, context)

    def already_crawled(self, link: str) -> bool:
        return not profile_handle(link) and super().already_crawled(link)
