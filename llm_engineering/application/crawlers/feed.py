"""RSS and Atom feeds (feedparser): one feed URL gives one article per entry, from the entry's
full HTML when the feed carries it (Medium, Substack and Velog feeds do), else its summary."""

from __future__ import annotations

from datetime import UTC, datetime

import feedparser

from llm_engineering.application.crawlers.base import BaseCrawler, CrawlContext
from llm_engineering.application.crawlers.dispatcher import platform_for
from llm_engineering.application.crawlers.errors import CrawlError
from llm_engineering.application.crawlers.extract import html_to_markdown
from llm_engineering.domain.documents import ArticleDocument, Document, UserDocument
from llm_engineering.infrastructure.http import FEED_TYPES


class FeedCrawler(BaseCrawler):
    name = "feed"
    platform = "feed"
    document_class = ArticleDocument
    url_patterns = (
        r"/(feed|rss|atom)(/[^/?#]*)?/?([?#].*)?$",
        r"\.(rss|atom)([?#].*)?$",
        r"/(feed|rss|atom|index)\.xml([?#].*)?$",
    )
    priority = 10
    one_document_per_link = False

    def crawl(self, link: str, user: UserDocument, context: CrawlContext) -> list[Document]:
        result = context.fetcher.fetch(link, accept=FEED_TYPES + ("text/plain", "text/html"))
        return articles_from_feed(result.text, link, user, context)


def parse_feed(text: str, link: str) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(text)
    if not parsed.entries:
        problem = f": {parsed.bozo_exception}" if parsed.get("bozo") else ""
        raise CrawlError(f"no entries in the feed at {link}{problem}")
    return parsed


def entry_html(entry) -> str:
    if entry.get("content"):
        return max((c.get("value", "") for c in entry.content), key=len)
    return entry.get("summary", "")


def entry_published(entry) -> datetime | None:
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    return datetime(*stamp[:6], tzinfo=UTC) if stamp else None


def article_from_entry(entry, user: UserDocument, platform: str) -> ArticleDocument | None:
    link = entry.get("link")
    content = html_to_markdown(entry_html(entry), link)
    if not link or not content:
        return None
    return ArticleDocument(
        content={"Title": entry.get("title", "").strip(), "Subtitle": None, "Content": content},
        platform=platform,
        author_id=user.id,
        author_full_name=user.full_name,
        link=link,
        published_at=entry_published(entry),
    )


def articles_from_feed(
    text: str, link: str, user: UserDocument, context: CrawlContext | None = None, platform: str | None = None
) -> list[Document]:
    """One article per feed entry with text; entries without a link or text are left out."""
    parsed = parse_feed(text, link)
    platform = platform or platform_for(link)
    articles = [a for a in (article_from_entry(e, user, platform) for e in parsed.entries) if a is not None]
    if not articles:
        raise CrawlError(f"empty feed: no entry of {link} has a link and text")
    return articles
