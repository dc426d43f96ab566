"""Tistory blogs (``*.tistory.com``, Korean): server-rendered posts, the generic extraction fits."""

from llm_engineering.application.crawlers.article import ArticleCrawler


class TistoryCrawler(ArticleCrawler):
    name = "tistory"
    platform = "tistory"
    url_patterns = (r"^https?://[^/]+\.tistory\.com(/|$)",)
