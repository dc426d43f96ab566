"""Any web article (the fallback crawler): main-content extraction of an HTML page; an RSS or
Atom feed answered at the link becomes one article per entry."""

from __future__ import annotations

from llm_engineering.application.crawlers.base import BaseCrawler, CrawlContext
from llm_engineering.application.crawlers.feed import articles_from_feed
from llm_engineering.domain.documents import ArticleDocument, Document, UserDocument


class ArticleCrawler(BaseCrawler):
    name = "article"
    platform = "blog"
    document_class = ArticleDocument

    def crawl(self, link: str, user: UserDocument, context: CrawlContext) -> list[Document]:
        result = context.fetcher.fetch(link)
        if result.is_feed:
            return articles_from_feed(result.text, link, user, context)
        return self.extract(result.text, result.final_url, link, user, context)

    def extract(self, html: str, url: str, link: str, user: UserDocument, context: CrawlContext) -> list[Document]:
        """The documents of a fetched page (``url``: where the fetch ended after redirects; ``link``:
        the link asked for, stored on the documents). Platforms whose pages need their own parsing
        override this."""
        return [self.article_from_html(html, link, user)]
