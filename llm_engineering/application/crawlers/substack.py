"""Substack posts (``*.substack.com``): server-rendered HTML, the generic extraction fits."""

from llm_engineering.application.crawlers.article import ArticleCrawler


class SubstackCrawler(ArticleCrawler):
    name = "substack"
    platform = "substack"
    url_patterns = (r"^https?://[^/]+\.substack\.com(/|$)",)
