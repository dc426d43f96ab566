"""Medium articles through headless Chromium (Medium renders with JavaScript).

Medium often answers automated browsers with a bot-check page; the crawler then falls back to
the author's RSS feed (``/feed/@user``), which carries each recent article's full HTML.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from loguru import logger

from llm_engineering.application.crawlers.base import BaseCrawler, CrawlContext
from llm_engineering.application.crawlers.errors import CrawlError
from llm_engineering.application.crawlers.extract import looks_like_bot_check
from llm_engineering.application.crawlers.feed import article_from_entry, parse_feed
from llm_engineering.domain.documents import ArticleDocument, Document, UserDocument
from llm_engineering.domain.identity import canonical_link
from llm_engineering.infrastructure.browser import BrowserError
from llm_engineering.infrastructure.http import FEED_TYPES

_POST_ID = re.compile(r"-([0-9a-f]{8,16})$")


class MediumCrawler(BaseCrawler):
    name = "medium"
    platform = "medium"
    document_class = ArticleDocument
    url_patterns = (r"^https?://([^/]+\.)?medium\.com/",)

    def crawl(self, link: str, user: UserDocument, context: CrawlContext) -> list[Document]:
        context.fetcher.check(link)
        try:
            with context.browser.page(link) as driver:
                html = driver.page_source
        except BrowserError as exc:
            logger.warning("{}: {}; trying the author's RSS feed", link, exc)
            return [self.from_feed(link, user, context, why=str(exc))]
        if len(html.encode("utf-8")) > context.settings.CRAWL_MAX_BYTES:
            raise CrawlError(f"page too large: more than CRAWL_MAX_BYTES={context.settings.CRAWL_MAX_BYTES} at {link}")
        if looks_like_bot_check(html):
            logger.info("{}: bot-check page; falling back to the author's RSS feed", link)
            return [self.from_feed(link, user, context, why="bot-check page")]
        return [self.article_from_html(html, link, user)]

    @staticmethod
    def feed_url(link: str) -> str:
        """``https://medium.com/@user/slug`` → ``https://medium.com/feed/@user``;
        ``https://user.medium.com/slug`` → ``https://user.medium.com/feed``."""
        parts = urlsplit(link)
        handle = next((seg for seg in parts.path.split("/") if seg.startswith("@")), None)
        origin = f"{parts.scheme}://{parts.netloc}"
        if handle:
            return f"{origin}/feed/{handle}"
        host = parts.hostname or ""
        if host.endswith(".medium.com") and host != "www.medium.com":
            return f"{origin}/feed"
        raise CrawlError(f"cannot tell the Medium author of {link} to read their RSS feed")

    def from_feed(self, link: str, user: UserDocument, context: CrawlContext, why: str) -> ArticleDocument:
        feed_url = self.feed_url(link)
        feed = context.fetcher.fetch(feed_url, accept=FEED_TYPES + ("text/plain",))
        wanted = canonical_link(link)
        wanted_id = _post_id(wanted)
        for entry in parse_feed(feed.text, feed_url).entries:
            entry_link = canonical_link(entry.get("link", ""))
            if entry_link == wanted or (wanted_id and _post_id(entry_link) == wanted_id):
                article = article_from_entry(entry, user, self.platform)
                if article is None:
                    raise CrawlError(f"empty article: the feed entry for {link} has no text")
                # Stored under the requested link so a later run recognises it.
                return ArticleDocument(**article.model_dump(exclude={"id", "link", "content_hash"}), link=wanted)
        raise CrawlError(f"{why} at {link}, and the article is not in the author's RSS feed {feed_url}")


def _post_id(link: str) -> str | None:
    match = _POST_ID.search(urlsplit(link).path)
    return match.group(1) if match else None
