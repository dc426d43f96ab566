"""What every crawler is: one class, the links it handles, the documents it makes.

A crawler registers itself in ``CRAWLERS`` when its class is defined (``__init_subclass__``); the
dispatcher imports every module of this package, so adding a platform is adding one file.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from llm_engineering.application.crawlers.errors import CrawlError
from llm_engineering.application.crawlers.extract import article_content
from llm_engineering.domain.documents import ArticleDocument, Document, UserDocument
from llm_engineering.domain.identity import canonical_link
from llm_engineering.infrastructure.browser import SharedBrowser
from llm_engineering.infrastructure.http import Fetcher

CRAWLERS: dict[str, type[BaseCrawler]] = {}
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")


@dataclass
class CrawlContext:
    """What crawlers share during one crawl: settings, an HTTP client and a lazy browser."""

    settings: object
    fetcher: Fetcher
    browser: SharedBrowser
    allow_local_files: bool = False
    extra: dict = field(default_factory=dict)


class BaseCrawler(ABC):
    """A crawler for one platform or source.

    Subclasses set ``name`` (registry key), ``platform`` (stored on documents), ``document_class``
    and either ``url_patterns`` (regular expressions searched in the link, case-insensitive) or,
    for local sources, ``local = True`` plus ``matches_path``. Higher ``priority`` wins when
    several crawlers match a link.
    """

    name: ClassVar[str] = ""
    platform: ClassVar[str] = ""
    document_class: ClassVar[type[Document]]
    url_patterns: ClassVar[tuple[str, ...]] = ()
    local: ClassVar[bool] = False
    priority: ClassVar[int] = 0
    # True when a link yields exactly one document whose link is the canonical input link, so
    # "already crawled" can be decided before fetching anything.
    one_document_per_link: ClassVar[bool] = True
    _compiled: ClassVar[tuple[re.Pattern, ...]] = ()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls._compiled = tuple(re.compile(p, re.IGNORECASE) for p in cls.url_patterns)
        if cls.__dict__.get("name"):
            CRAWLERS[cls.name] = cls

    @classmethod
    def matches(cls, link: str) -> bool:
        if cls.local:
            path = local_path(link)
            return path is not None and path.exists() and cls.matches_path(path)
        return any(p.search(link) for p in cls._compiled)

    @classmethod
    def matches_path(cls, path: Path) -> bool:
        return False

    def already_crawled(self, link: str) -> bool:
        if not self.one_document_per_link:
            return False
        return self.document_class.find(link=canonical_link(link)) is not None

    @abstractmethod
    def crawl(self, link: str, user: UserDocument, context: CrawlContext) -> list[Document]:
        """Fetch the link and return its documents (not saved); raise CrawlError on failure."""

    def document(
        self, content: dict, link: str | None, user: UserDocument, published_at=None, cls=None, **fields
    ) -> Document:
        """A document of this crawler's platform written by ``user`` (``cls`` defaults to
        ``document_class``; ``fields`` are the class's own, such as a repository's ``name``)."""
        return (cls or self.document_class)(
            content=content,
            platform=self.platform,
            author_id=user.id,
            author_full_name=user.full_name,
            link=link,
            published_at=published_at,
            **fields,
        )

    def article_from_html(self, html: str, link: str, user: UserDocument) -> Document:
        """One article of this crawler's platform from a page's HTML (main-content extraction)."""
        content, published = article_content(html, link)
        return self.document(content, link, user, published, cls=ArticleDocument)


def scheme_of(link: str) -> str | None:
    match = _SCHEME.match(link.strip())
    if not match or (len(match.group(1)) == 1 and re.match(r"^[a-zA-Z]:[\\/]", link.strip())):
        return None  # no scheme, or a Windows drive letter
    return match.group(1).lower()


def local_path(link: str) -> Path | None:
    """The filesystem path a link names (``file://`` URL or plain path), else None."""
    link = link.strip()
    scheme = scheme_of(link)
    if scheme == "file":
        parts = urlsplit(link)
        if parts.netloc not in ("", "localhost"):
            return None
        return Path(unquote(parts.path))
    if scheme is None and link:
        return Path(link).expanduser()
    return None


def existing_path(link: str) -> Path:
    """The local path a link names; CrawlError when it names none or nothing is there."""
    path = local_path(link)
    if path is None or not path.exists():
        raise CrawlError(f"local path not found: {link}")
    return path


def file_link(path: Path) -> str:
    """The link stored for a local file: its absolute ``file://`` URI."""
    return path.resolve().as_uri()


_FILE_URI = re.compile(r"file://[^\s()\[\]<>\"']+")


def public_link(link: str | None) -> str | None:
    """A link fit to show outside the server: a local file by its name (``file:///home/…/notes.md``
    → ``notes.md``), never by its path on the server's disk; web links unchanged."""
    if not link or scheme_of(link) != "file":
        return link
    return Path(unquote(urlsplit(link).path)).name or None


def public_text(text: str) -> str:
    """``text`` with every ``file://`` URI in it replaced by the file's name."""
    return _FILE_URI.sub(lambda m: public_link(m.group(0)) or "", text)
