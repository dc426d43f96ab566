"""The one error a crawler raises, in a module of its own so that the extraction helpers and the
crawlers can both raise it without importing each other."""

from llm_engineering.exceptions import LLMTwinError


class CrawlError(LLMTwinError):
    """A link could not be crawled; the message is the reason recorded for it."""
