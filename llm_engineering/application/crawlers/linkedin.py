"""LinkedIn posts from the official data export (LinkedIn blocks scraping).

Download it under Settings → Data privacy → Get a copy of your data; pass the ZIP (or the folder
it unpacks to) as a link. ``Shares.csv`` holds one row per post: Date, ShareLink,
ShareCommentary, SharedUrl, MediaUrl, Visibility. A linkedin.com URL fails with this advice.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from llm_engineering.application.crawlers.base import BaseCrawler, CrawlContext
from llm_engineering.application.crawlers.errors import CrawlError
from llm_engineering.application.crawlers.local_sources import LocalSourceCrawler, decode_text, list_names, read_member
from llm_engineering.domain.documents import Document, PostDocument, UserDocument

SHARES_FILES = ("shares.csv", "posts.csv")


def _shares_member(path: Path) -> str | None:
    for name in list_names(path):
        if PurePosixPath(name).name.lower() in SHARES_FILES:
            return name
    return None


class LinkedInExportCrawler(LocalSourceCrawler):
    name = "linkedin_export"
    platform = "linkedin"
    document_class = PostDocument
    priority = 20

    @classmethod
    def matches_path(cls, path: Path) -> bool:
        return (path.is_dir() or path.suffix.lower() in (".zip", ".csv")) and (
            path.name.lower() in SHARES_FILES
            or (not path.name.lower().endswith(".csv") and _shares_member(path) is not None)
        )

    def crawl_path(self, path: Path, user: UserDocument, context: CrawlContext) -> list[Document]:
        if path.is_file() and path.suffix.lower() == ".csv":
            data, member = path.read_bytes(), path.name
        else:
            member = _shares_member(path)
            if member is None:
                raise CrawlError(f"no Shares.csv in the LinkedIn export {path}")
            data = read_member(path, member)
        rows = list(csv.DictReader(io.StringIO(decode_text(data, member), newline="")))
        if rows and not {"ShareCommentary", "ShareLink"} <= set(rows[0]):
            raise CrawlError(f"{member} lacks the ShareCommentary/ShareLink columns of a LinkedIn export")
        posts = []
        for row in rows:
            text = (row.get("ShareCommentary") or "").replace("\r\n", "\n").strip()
            if not text:
                continue  # reposts without a comment carry none of the author's writing
            link = (row.get("ShareLink") or "").strip() or None
            image = (row.get("MediaUrl") or "").strip() or None
            posts.append(self.document({"Content": text}, link, user, _date(row.get("Date")), image=image))
        if not posts:
            raise CrawlError(f"no posts with text in {member} of {path}")
        return posts


class LinkedInUrlCrawler(BaseCrawler):
    name = "linkedin"
    platform = "linkedin"
    document_class = PostDocument
    url_patterns = (r"^https?://([^/]+\.)?linkedin\.com/",)

    def already_crawled(self, link: str) -> bool:
        return False

    def crawl(self, link: str, user: UserDocument, context: CrawlContext) -> list[Document]:
        raise CrawlError(
            "LinkedIn blocks scraping; export your data (Settings → Data privacy → Get a copy of your data) "
            "and list the export ZIP's path instead, with allow_local_files: true"
        )


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%m/%d/%y, %I:%M %p"):
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None
