"""Any web article (the fallback crawler): main-content extraction of an HTML page; an RSS or
Atom feed answered at the link becomes one article per entry."""

from __future__ import annotations

from llm_engineering.application.crawlers.base import BaseCrawler, CrawlContext, CrawlError
from llm_engineering.domain.documents import ArticleDocument, Document, UserDocument


class ArticleCrawler(BaseCrawler):
    name = "article"
    platform = "blog"
    document_class = ArticleDocument

    def crawl(self, link: str, user: UserDocument, context: CrawlContext) -> list[Document]:
        result = context.fetcher.fetch(link)
        if result.is_feed:
            from llm_engineering.application.crawlers.feed import articles_from_feed

            return articles_from_feed(result.text, link, user, context)
        return [self.article_from_html(self.page_html(result.text, result.final_url, context), link, user)]

    def page_html(self, html: str, url: str, context: CrawlContext) -> str:
        """The HTML that holds the article (platforms with frames override this)."""
        return html


__all__ = ["ArticleCrawler", "CrawlError"]
