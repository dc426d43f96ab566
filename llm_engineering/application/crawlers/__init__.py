"""Crawlers: one module per platform, each registering itself; ``CrawlerDispatcher`` picks one."""

from llm_engineering.application.crawlers.base import BaseCrawler, CrawlContext
from llm_engineering.application.crawlers.dispatcher import CrawlerDispatcher, load_crawlers
from llm_engineering.application.crawlers.errors import CrawlError

__all__ = ["BaseCrawler", "CrawlContext", "CrawlError", "CrawlerDispatcher", "load_crawlers"]
