"""Local drafts and notes: a Markdown, text or HTML file, or a folder of them, as articles.

Each file becomes one article whose link is its ``file://`` URI. Markdown and text are kept as
written; HTML goes through the same main-content extraction as web pages.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from loguru import logger

from llm_engineering.application.crawlers.base import BaseCrawler, CrawlContext, CrawlError, file_link, local_path
from llm_engineering.application.crawlers.extract import article_content
from llm_engineering.application.crawlers.local_sources import decode_text
from llm_engineering.domain.documents import ArticleDocument, Document, UserDocument

TEXT_SUFFIXES = (".md", ".markdown", ".txt", ".text")
HTML_SUFFIXES = (".html", ".htm")
_HEADING = re.compile(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", re.MULTILINE)


class LocalFilesCrawler(BaseCrawler):
    name = "local_files"
    platform = "local"
    document_class = ArticleDocument
    local = True
    priority = -10
    one_document_per_link = False

    @classmethod
    def matches_path(cls, path: Path) -> bool:
        return path.is_dir() or path.suffix.lower() in TEXT_SUFFIXES + HTML_SUFFIXES

    def crawl(self, link: str, user: UserDocument, context: CrawlContext) -> list[Document]:
        path = local_path(link)
        if path is None or not path.exists():
            raise CrawlError(f"local path not found: {link}")
        if path.is_file():
            return [self.article_from_file(path, user, context)]
        articles = []
        for file in sorted(p for p in path.rglob("*") if p.is_file() and self.matches_path(p)):
            if any(part.startswith(".") for part in file.relative_to(path).parts):
                continue
            try:
                articles.append(self.article_from_file(file, user, context))
            except CrawlError as exc:
                logger.warning("left out {}: {}", file, exc)
        if not articles:
            raise CrawlError(f"no readable Markdown, text or HTML file with text in {path}")
        return articles

    def article_from_file(self, path: Path, user: UserDocument, context: CrawlContext) -> ArticleDocument:
        size_cap = context.settings.CRAWL_MAX_BYTES
        if path.stat().st_size > size_cap:
            raise CrawlError(f"{path} is too large: over CRAWL_MAX_BYTES={size_cap}")
        text = decode_text(path.read_bytes(), str(path))
        link = file_link(path)
        if path.suffix.lower() in HTML_SUFFIXES:
            content, published = article_content(text, link)
            content["Title"] = content["Title"] or path.stem
        else:
            if not text.strip():
                raise CrawlError(f"empty article: {path} has no text")
            heading = _HEADING.search(text)
            content = {"Title": heading.group(1) if heading else path.stem, "Subtitle": None, "Content": text}
            published = None
        return ArticleDocument(
            content=content,
            platform=self.platform,
            author_id=user.id,
            author_full_name=user.full_name,
            link=link,
            published_at=published or datetime.fromtimestamp(path.stat().st_mtime, UTC),
        )
