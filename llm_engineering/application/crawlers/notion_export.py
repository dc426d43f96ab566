"""Notion exports (Markdown & CSV or HTML), as a folder or the ZIP Notion sends.

Notion names each exported page ``<Title> <32-hex page id>.md`` (or ``.html``); each page becomes
an article whose link is the page's stable ``https://www.notion.so/<id>``, so a later export of
the same workspace updates the same documents.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from loguru import logger

from llm_engineering.application.crawlers.base import CrawlContext
from llm_engineering.application.crawlers.errors import CrawlError
from llm_engineering.application.crawlers.extract import article_content
from llm_engineering.application.crawlers.local_sources import LocalSourceCrawler, decode_text, iter_files, list_names
from llm_engineering.domain.documents import ArticleDocument, Document, UserDocument

_PAGE = re.compile(r"^(?P<title>.*?)\s*(?P<id>[0-9a-f]{32})\.(?P<ext>md|html)$", re.IGNORECASE)


def _is_page(name: str) -> bool:
    return bool(_PAGE.match(PurePosixPath(name).name))


class NotionExportCrawler(LocalSourceCrawler):
    name = "notion_export"
    platform = "notion"
    document_class = ArticleDocument
    priority = 10

    @classmethod
    def matches_path(cls, path: Path) -> bool:
        if path.is_file() and path.suffix.lower() != ".zip":
            return _is_page(path.name)
        return any(_is_page(n) for n in list_names(path))

    def crawl_path(self, path: Path, user: UserDocument, context: CrawlContext) -> list[Document]:
        articles = []
        for name, data in iter_files(path, (".md", ".html")):
            match = _PAGE.match(PurePosixPath(name).name)
            if not match:
                continue
            try:
                articles.append(self._page(match, name, data, user))
            except CrawlError as exc:
                logger.warning("left out Notion page {}: {}", name, exc)
        if not articles:
            raise CrawlError(f"no Notion page with text in {path}")
        return articles

    def _page(self, match: re.Match, name: str, data: bytes, user: UserDocument) -> ArticleDocument:
        text = decode_text(data, name)
        link = f"https://www.notion.so/{match['id'].lower()}"
        title, published = match["title"].strip(), None
        if match["ext"].lower() == "html":
            content, published = article_content(text, link)
            content["Title"] = content["Title"] or title
        else:
            body = re.sub(r"\A\s*#\s+.*\n", "", text, count=1) if text.lstrip().startswith("# ") else text
            if not body.strip():
                raise CrawlError(f"empty article: {name}")
            content = {"Title": title, "Subtitle": None, "Content": body.strip("\n")}
        return self.document(content, link, user, published)
