"""Naver blogs (blog.naver.com, Korean): the post lives in an iframe (``#mainFrame``) whose page
holds the text; the crawler follows the frame before extracting."""

from __future__ import annotations

from urllib.parse import urljoin

from bs4 import BeautifulSoup

from llm_engineering.application.crawlers.article import ArticleCrawler
from llm_engineering.application.crawlers.base import CrawlContext
from llm_engineering.domain.documents import Document, UserDocument


class NaverBlogCrawler(ArticleCrawler):
    name = "naver_blog"
    platform = "naver_blog"
    url_patterns = (r"^https?://(m\.)?blog\.naver\.com/",)

    def extract(self, html: str, url: str, link: str, user: UserDocument, context: CrawlContext) -> list[Document]:
        frame = BeautifulSoup(html, "lxml").find("iframe", id="mainFrame")
        if frame is not None and frame.get("src"):
            html = context.fetcher.fetch(urljoin(url, frame["src"])).text
        return super().extract(html, url, link, user, context)
