"""Naver blogs (blog.naver.com, Korean): the post lives in an iframe (``#mainFrame``) whose page
holds the text; the crawler follows the frame before extracting."""

from __future__ import annotations

from urllib.parse import urljoin

from bs4 import BeautifulSoup

from llm_engineering.application.crawlers.article import ArticleCrawler
from llm_engineering.application.crawlers.base import CrawlContext


class NaverBlogCrawler(ArticleCrawler):
    name = "naver_blog"
    platform = "naver_blog"
    url_patterns = (r"^https?://(m\.)?blog\.naver\.com/",)

    def page_html(self, html: str, url: str, context: CrawlContext) -> str:
        frame = BeautifulSoup(html, "lxml").find("iframe", id="mainFrame")
        if frame is None or not frame.get("src"):
            return html
        return context.fetcher.fetch(urljoin(url, frame["src"])).text
