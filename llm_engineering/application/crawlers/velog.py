"""Velog (velog.io), a Korean developer blog platform: posts are server-rendered, so the generic
extraction fits; ``velog.io/@user`` alone is a profile and goes through the author's RSS feed."""

from __future__ import annotations

import re

from llm_engineering.application.crawlers.article import ArticleCrawler
from llm_engineering.application.crawlers.base import CrawlContext
from llm_engineering.application.crawlers.feed import articles_from_feed
from llm_engineering.domain.documents import Document, UserDocument

_PROFILE = re.compile(r"^https?://(?:www\.)?velog\.io/@([^/?#]+)/?(?:posts/?)?(?:[?#].*)?$", re.IGNORECASE)


class VelogCrawler(ArticleCrawler):
    name = "velog"
    platform = "velog"
    url_patterns = (r"^https?://(www\.)?velog\.io/",)

    def crawl(self, link: str, user: UserDocument, context: CrawlContext) -> list[Document]:
        profile = _PROFILE.match(link)
        if profile:
            feed = context.fetcher.fetch(f"https://v2.velog.io/rss/@{profile.group(1)}")
            return articles_from_feed(feed.text, link, user, context, platform=self.platform)
        return super().crawl(link, user, context)

    def already_crawled(self, link: str) -> bool:
        return not _PROFILE.match(link) and super().already_crawled(link)
