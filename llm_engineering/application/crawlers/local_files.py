"""Local drafts and notes: a Markdown, text or HTML file, or a folder of them, as articles or posts.

Each file becomes one document whose link is its ``file://`` URI. Markdown and text are kept as
written; HTML goes through the same main-content extraction as web pages.

Front matter: a Markdown or text file may start with a YAML block between two ``---`` lines
(``title``, ``date``, ``tags``, ...). It is read with ``yaml.safe_load`` and removed from
``Content``: ``title`` becomes the Title (else the first ``# `` heading, else the file name),
``date`` the publication date (else the file's modification time) and ``tags`` are kept as
``content["tags"]``. A leading block that is not a YAML mapping is ordinary text and stays.

Posts: a file with a folder named ``posts`` (any case) on its path, counted from the linked
folder itself (for a single-file link: its parent folder), becomes a ``PostDocument``; every
other file becomes an ``ArticleDocument``. Folders above the linked one do not count.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import yaml
from loguru import logger

from llm_engineering.application.crawlers.base import CrawlContext, file_link
from llm_engineering.application.crawlers.errors import CrawlError
from llm_engineering.application.crawlers.extract import article_content
from llm_engineering.application.crawlers.local_sources import LocalSourceCrawler, decode_text
from llm_engineering.domain.documents import ArticleDocument, Document, PostDocument, UserDocument

TEXT_SUFFIXES = (".md", ".markdown", ".txt", ".text")
HTML_SUFFIXES = (".html", ".htm")
POSTS_FOLDER = "posts"
_HEADING = re.compile(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", re.MULTILINE)
# A block that opens on the very first line with "---" and closes with a "---" (or "...") line.
_FRONT_MATTER = re.compile(
    r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL | re.MULTILINE
)


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """``(front matter mapping, text after it)``; ``({}, text)`` when there is no YAML mapping.

    Blank lines right after the closing ``---`` go with the block; the rest is kept as written.
    """
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) if match.group(1).strip() else {}
    except yaml.YAMLError as exc:
        logger.debug("leading --- block is not YAML, kept as text: {}", exc)
        return {}, text
    if not isinstance(meta, dict):
        return {}, text
    body = text[match.end() :]
    return meta, re.sub(r"\A(?:[ \t]*\r?\n)+", "", body)


def front_matter_date(value: Any) -> datetime | None:
    """A publication date from a front-matter ``date`` (YAML date, datetime or ISO string), in UTC
    when no zone is given; None when absent or unreadable."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            logger.warning("front matter date {!r} is not an ISO date; the file's time is used", value)
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    return None


def front_matter_tags(value: Any) -> list[str] | None:
    """Tags as a list of strings (a YAML list, or one comma-separated string)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else [value]
    return [str(item).strip() for item in items if item is not None and str(item).strip()]


class LocalFilesCrawler(LocalSourceCrawler):
    name = "local_files"
    platform = "local"
    document_class = ArticleDocument
    priority = -10

    @classmethod
    def matches_path(cls, path: Path) -> bool:
        return path.is_dir() or path.suffix.lower() in TEXT_SUFFIXES + HTML_SUFFIXES

    def crawl_path(self, path: Path, user: UserDocument, context: CrawlContext) -> list[Document]:
        if path.is_file():
            return [self.document_from_file(path, user, context, is_post=_is_posts(path.parent.name))]
        documents = []
        for file in sorted(p for p in path.rglob("*") if p.is_file() and self.matches_path(p)):
            rel = file.relative_to(path)
            if any(part.startswith(".") for part in rel.parts):
                continue
            is_post = any(_is_posts(part) for part in (path.resolve().name, *rel.parts[:-1]))
            try:
                documents.append(self.document_from_file(file, user, context, is_post=is_post))
            except CrawlError as exc:
                logger.warning("left out {}: {}", file, exc)
        if not documents:
            raise CrawlError(f"no readable Markdown, text or HTML file with text in {path}")
        return documents

    def document_from_file(
        self, path: Path, user: UserDocument, context: CrawlContext, is_post: bool = False
    ) -> ArticleDocument | PostDocument:
        size_cap = context.settings.CRAWL_MAX_BYTES
        if path.stat().st_size > size_cap:
            raise CrawlError(f"{path} is too large: over CRAWL_MAX_BYTES={size_cap}")
        text = decode_text(path.read_bytes(), str(path))
        link = file_link(path)
        published = None
        if path.suffix.lower() in HTML_SUFFIXES:
            content, published = article_content(text, link)
            content["Title"] = content["Title"] or path.stem
        else:
            meta, body = split_front_matter(text)
            if not body.strip():
                raise CrawlError(f"empty article: {path} has no text")
            title = meta.get("title")
            if not isinstance(title, str) or not title.strip():
                heading = _HEADING.search(body)
                title = heading.group(1) if heading else path.stem
            content = {"Title": title.strip(), "Subtitle": None, "Content": body}
            tags = front_matter_tags(meta.get("tags"))
            if tags is not None:
                content["tags"] = tags
            published = front_matter_date(meta.get("date"))
        published = published or datetime.fromtimestamp(path.stat().st_mtime, UTC)
        return self.document(content, link, user, published, cls=PostDocument if is_post else ArticleDocument)


def _is_posts(folder_name: str) -> bool:
    return folder_name.lower() == POSTS_FOLDER
