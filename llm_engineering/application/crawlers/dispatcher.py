"""Pick the crawler for a link: the registered crawler whose patterns match, by priority,
falling back to the generic article crawler for any other web page.

Local paths (when allowed) are read as given: a relative path is relative to the current
directory, so ``python -m tools.run`` from the repository root reads ``data/...`` there.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from pathlib import Path

from llm_engineering.application.crawlers.base import CRAWLERS, BaseCrawler, local_path, scheme_of
from llm_engineering.application.crawlers.errors import CrawlError
from llm_engineering.infrastructure.http import FetchError, check_url

FALLBACK = "article"


@lru_cache(maxsize=1)
def _import_all() -> None:
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        importlib.import_module(f"{__package__}.{module.name}")


def load_crawlers() -> dict[str, type[BaseCrawler]]:
    """Every registered crawler class by name (importing this package's modules once)."""
    _import_all()
    return dict(CRAWLERS)


def platform_for(url: str, default: str = "blog") -> str:
    """The platform of a web URL, asked of the registered crawlers (no hand-kept host list)."""
    for cls in sorted(load_crawlers().values(), key=lambda c: -c.priority):
        if not cls.local and cls.platform and cls._compiled and cls.matches(url) and cls.platform != "feed":
            return cls.platform
    return default


class CrawlerDispatcher:
    """``get_crawler(link)`` returns a crawler instance or raises CrawlError with the reason."""

    def __init__(self, allow_local_files: bool = False):
        self.allow_local_files = allow_local_files
        self._crawlers = sorted(load_crawlers().values(), key=lambda c: (-c.priority, c.name))

    def get_crawler(self, link: str) -> BaseCrawler:
        if not isinstance(link, str) or not link.strip():
            raise CrawlError("malformed URL: empty link")
        link = link.strip()
        scheme = scheme_of(link)
        if scheme == "file" or (scheme is None and self.allow_local_files):
            return self._local_crawler(link, scheme)
        try:
            check_url(link)  # syntax only; addresses are checked on fetch
        except FetchError as exc:
            raise CrawlError(str(exc)) from None
        for cls in self._crawlers:
            if not cls.local and cls.matches(link):
                return cls()
        return CRAWLERS[FALLBACK]()

    def _local_crawler(self, link: str, scheme: str | None) -> BaseCrawler:
        if not self.allow_local_files:
            raise CrawlError(
                f"unsupported scheme file: in {link!r} (local files are read only when the run allows "
                "them: allow_local_files: true)"
            )
        path = local_path(link)
        if path is None or not path.exists():
            where = f" (relative paths are read from the current directory: {path.absolute()})" if path else ""
            raise CrawlError(f"local path not found: {link}{where}")
        for cls in self._crawlers:
            if cls.local and cls.matches(link):
                return cls()
        raise CrawlError(f"no crawler reads {link} (expected markdown, text or HTML files, or an export)")
