"""Local code: a project folder or a local git repository as one RepositoryDocument.

Read only when the run allows local files. Which folders count as code (checked on the linked
folder itself, never on the folders above it):

- a git working tree (the folder holds ``.git``) or a bare repository (``HEAD``, ``objects/`` and
  ``refs/`` at its top): cloned with ``git clone --depth 1 file://...`` through the GitHub
  crawler's clone code, so only the committed state of the checked-out branch is read
  (uncommitted edits and ignored files are not), and the date is the last commit's;
- otherwise a folder that holds a project manifest at its top (``pyproject.toml``, ``setup.py``,
  ``package.json``, ``Cargo.toml``, ``go.mod``, ``pom.xml``, ... see ``MANIFESTS``): read in place,
  hidden files and folders (``.env``, caches) left out, dated by its newest kept file.

Both ways keep the same files as the GitHub crawler: binaries, vendored and generated folders,
lock files and files over GITHUB_MAX_FILE_KB are left out; the kept text, at most
GITHUB_CLONE_MAX_MB in all, is stored exactly as written. Such a folder goes here rather than to
the local files crawler; a folder of notes with neither git nor a manifest stays an article source.
The document's link is the folder's ``file://`` URI; its name is the project's name from a
top-level ``pyproject.toml``, ``Cargo.toml`` or ``package.json`` when one declares it, else the
folder's name (a bare repository's without ``.git``).
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from loguru import logger

from llm_engineering.application.crawlers.base import BaseCrawler, CrawlContext, file_link, local_path
from llm_engineering.application.crawlers.errors import CrawlError
from llm_engineering.application.crawlers.github import clone_and_read, read_tree
from llm_engineering.domain.documents import Document, RepositoryDocument, UserDocument
from llm_engineering.domain.identity import canonical_link

MANIFESTS = frozenset(
    {
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        "package.json",
        "Cargo.toml",
        "go.mod",
        "pom.xml",
        "build.gradle",
        "build.gradle.kts",
        "Gemfile",
        "composer.json",
        "mix.exs",
        "CMakeLists.txt",
        "Package.swift",
        "pubspec.yaml",
        "DESCRIPTION",
        "stack.yaml",
        "deno.json",
    }
)


def is_git_repository(path: Path) -> bool:
    """The folder is the top of a git working tree or a bare repository."""
    if (path / ".git").exists():
        return True
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def project_name(files: dict[str, str]) -> str | None:
    """The name a top-level manifest declares (pyproject.toml, Cargo.toml, package.json), if any."""
    for manifest, section in (("pyproject.toml", "project"), ("Cargo.toml", "package"), ("package.json", None)):
        text = files.get(manifest)
        if text is None:
            continue
        try:
            data = json.loads(text) if section is None else tomllib.loads(text).get(section, {})
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            logger.debug("{} not readable for the project name: {}", manifest, exc)
            continue
        name = data.get("name") if isinstance(data, dict) else None
        if isinstance(name, str) and name.strip():
            return name.strip()
    return None


def has_manifest(path: Path) -> bool:
    return any((path / name).is_file() for name in MANIFESTS) or any(path.glob("*.csproj"))


class LocalCodeCrawler(BaseCrawler):
    name = "local_code"
    platform = "local"
    document_class = RepositoryDocument
    local = True
    priority = 5  # above local_files; export crawlers (Notion, LinkedIn) are checked first

    @classmethod
    def matches_path(cls, path: Path) -> bool:
        return path.is_dir() and (is_git_repository(path) or has_manifest(path))

    def already_crawled(self, link: str) -> bool:
        path = local_path(link)
        return path is not None and RepositoryDocument.find(link=canonical_link(file_link(path))) is not None

    def crawl(self, link: str, user: UserDocument, context: CrawlContext) -> list[Document]:
        path = local_path(link)
        if path is None or not path.is_dir():
            raise CrawlError(f"local code folder not found: {link}")
        path = path.resolve()
        s = context.settings
        folder_name = path.name.removesuffix(".git") or path.name
        if is_git_repository(path):
            files, published = clone_and_read(file_link(path), folder_name, s)
        else:
            files = read_tree(
                path,
                s.GITHUB_MAX_FILE_KB * 1024,
                max_total_bytes=int(s.GITHUB_CLONE_MAX_MB * 1024 * 1024),
                skip_hidden=True,
            )
            if not files:
                raise CrawlError(f"empty project: no text files to keep in {path}")
            newest = max((path / rel).stat().st_mtime for rel in files)
            published = datetime.fromtimestamp(newest, UTC)
        return [
            RepositoryDocument(
                content=files,
                name=project_name(files) or folder_name,
                platform=self.platform,
                author_id=user.id,
                author_full_name=user.full_name,
                link=file_link(path),
                published_at=published,
            )
        ]
