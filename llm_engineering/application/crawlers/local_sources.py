"""Reading local sources: a folder, a ZIP archive or a single file, as ``(name, bytes)`` pairs,
and the crawler kind that reads one (local files and data exports: LinkedIn, Notion).
"""

from __future__ import annotations

import zipfile
from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from llm_engineering.application.crawlers.base import BaseCrawler, CrawlContext, existing_path
from llm_engineering.application.crawlers.errors import CrawlError
from llm_engineering.domain.documents import Document, UserDocument

MAX_MEMBER_BYTES = 20 * 2**20


class LocalSourceCrawler(BaseCrawler):
    """A crawler of a local folder, ZIP or file that yields many documents; subclasses say which
    paths they read (``matches_path``) and what they make of one (``crawl_path``)."""

    local = True
    one_document_per_link = False

    def crawl(self, link: str, user: UserDocument, context: CrawlContext) -> list[Document]:
        return self.crawl_path(existing_path(link), user, context)

    @abstractmethod
    def crawl_path(self, path: Path, user: UserDocument, context: CrawlContext) -> list[Document]:
        """The documents of the local source at ``path`` (it exists); CrawlError when it has none."""


def is_zip(path: Path) -> bool:
    return path.is_file() and zipfile.is_zipfile(path)


def list_names(path: Path) -> list[str]:
    """Relative posix names of the files in a folder or ZIP (a file: its own name)."""
    if path.is_dir():
        return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    if is_zip(path):
        try:
            with zipfile.ZipFile(path) as archive:
                return sorted(i.filename for i in archive.infolist() if not i.is_dir())
        except zipfile.BadZipFile as exc:
            raise CrawlError(f"unreadable ZIP {path}: {exc}") from None
    return [path.name]


def iter_files(path: Path, suffixes: tuple[str, ...] | None = None) -> Iterator[tuple[str, bytes]]:
    """``(relative name, bytes)`` for each file (optionally only these suffixes), sorted by name."""
    wanted = (lambda n: PurePosixPath(n).suffix.lower() in suffixes) if suffixes else (lambda n: True)
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            rel = p.relative_to(path).as_posix()
            if p.is_file() and wanted(rel) and not _hidden(rel):
                yield rel, p.read_bytes()
    elif is_zip(path):
        try:
            with zipfile.ZipFile(path) as archive:
                for info in sorted(archive.infolist(), key=lambda i: i.filename):
                    if info.is_dir() or not wanted(info.filename) or _hidden(info.filename):
                        continue
                    if info.file_size > MAX_MEMBER_BYTES:
                        raise CrawlError(f"{info.filename} in {path} is too large ({info.file_size} bytes)")
                    yield info.filename, archive.read(info)
        except zipfile.BadZipFile as exc:
            raise CrawlError(f"unreadable ZIP {path}: {exc}") from None
    elif path.is_file() and wanted(path.name):
        yield path.name, path.read_bytes()


def read_member(path: Path, name: str) -> bytes:
    if path.is_dir():
        return (path / name).read_bytes()
    with zipfile.ZipFile(path) as archive:
        return archive.read(name)


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 text exactly as stored (a BOM dropped); CrawlError when it is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CrawlError(f"{name} is not valid UTF-8 (byte {exc.start}); nothing was stored") from None


def _hidden(rel: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in PurePosixPath(rel).parts)
