"""Public Notion pages (``*.notion.site``, ``notion.so``) through headless Chromium: Notion
renders the page with JavaScript, so the crawler waits for the page content to appear."""

from __future__ import annotations

from llm_engineering.application.crawlers.base import BaseCrawler, CrawlContext
from llm_engineering.application.crawlers.errors import CrawlError
from llm_engineering.domain.documents import ArticleDocument, Document, UserDocument
from llm_engineering.infrastructure.browser import BrowserError

CONTENT_SELECTOR = ".notion-page-content"


class NotionPageCrawler(BaseCrawler):
    name = "notion_page"
    platform = "notion"
    document_class = ArticleDocument
    url_patterns = (r"^https?://([^/]+\.)?notion\.site/", r"^https?://(www\.)?notion\.so/")

    def crawl(self, link: str, user: UserDocument, context: CrawlContext) -> list[Document]:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        context.fetcher.check(link)
        try:
            with context.browser.page(link) as driver:
                try:
                    WebDriverWait(driver, context.settings.CRAWL_TIMEOUT_S).until(
                        lambda d: (
                            d.find_elements(By.CSS_SELECTOR, CONTENT_SELECTOR)
                            and d.find_element(By.CSS_SELECTOR, CONTENT_SELECTOR).text.strip()
                        )
                    )
                except TimeoutException:
                    raise CrawlError(f"empty article: no Notion page content appeared at {link}") from None
                html = driver.page_source
        except BrowserError as exc:
            raise CrawlError(str(exc)) from None
        return [self.article_from_html(html, link, user)]
