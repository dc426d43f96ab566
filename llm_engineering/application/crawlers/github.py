"""GitHub repositories: ``git clone --depth 1`` into a temporary folder, under a timeout and a
size cap, then one RepositoryDocument whose content maps each kept file's path to its exact text.

Left out: binaries (NUL bytes or not UTF-8), vendored and generated folders, lock files, files
over GITHUB_MAX_FILE_KB. Kept text is never re-encoded or stripped (whitespace included).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

from loguru import logger

from llm_engineering.application.crawlers.base import BaseCrawler, CrawlContext
from llm_engineering.application.crawlers.errors import CrawlError
from llm_engineering.domain.documents import Document, RepositoryDocument, UserDocument

_REPO = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?(?:/.*)?$")
SKIPPED_DIRS = frozenset(
    {
        ".git",
        "node_modules",
        "vendor",
        "vendors",
        "third_party",
        "third-party",
        "bower_components",
        ".venv",
        "venv",
        "__pycache__",
        "dist",
        "build",
        "target",
        ".tox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".eggs",
        ".ipynb_checkpoints",
        ".idea",
        ".vscode",
    }
)
LOCK_FILES = frozenset(
    {
        "package-lock.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "poetry.lock",
        "uv.lock",
        "Pipfile.lock",
        "Cargo.lock",
        "Gemfile.lock",
        "composer.lock",
        "go.sum",
        "mix.lock",
        "flake.lock",
        "packages.lock.json",
    }
)
BINARY_SUFFIXES = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".ico",
        ".webp",
        ".pdf",
        ".zip",
        ".gz",
        ".tar",
        ".whl",
        ".so",
        ".dll",
        ".exe",
        ".bin",
        ".pt",
        ".pth",
        ".onnx",
        ".safetensors",
        ".gguf",
        ".pkl",
        ".npy",
        ".parquet",
        ".woff",
        ".woff2",
        ".ttf",
        ".mp3",
        ".mp4",
        ".mov",
        ".jar",
        ".class",
        ".pyc",
    }
)


class GithubCrawler(BaseCrawler):
    name = "github"
    platform = "github"
    document_class = RepositoryDocument
    url_patterns = (r"^https?://(www\.)?github\.com/[^/]+/[^/?#]+",)

    @staticmethod
    def repository_url(link: str) -> tuple[str, str]:
        """``(clone URL, repository name)`` of a repository link (a /tree/... suffix is dropped)."""
        normalised = re.sub(
            r"^https?://(www\.)?github\.com", "https://github.com", link.strip().split("#")[0].split("?")[0]
        )
        match = _REPO.match(normalised)
        if not match:
            raise CrawlError(f"not a GitHub repository link: {link}")
        owner, repo = match.groups()
        return f"https://github.com/{owner}/{repo}", repo

    def already_crawled(self, link: str) -> bool:
        url, _ = self.repository_url(link)
        return RepositoryDocument.find(link=url) is not None

    def crawl(self, link: str, user: UserDocument, context: CrawlContext) -> list[Document]:
        s = context.settings
        url, name = self.repository_url(link)
        files, published = clone_and_read(url, name, s)
        return [self.document(files, url, user, published, name=name)]


def clone_and_read(url: str, name: str, settings) -> tuple[dict[str, str], datetime | None]:
    """Shallow-clone ``url`` into a temporary folder (GITHUB_CLONE_TIMEOUT_S, GITHUB_CLONE_MAX_MB)
    and return the kept files' text and the last commit's date; the clone is then deleted."""
    with tempfile.TemporaryDirectory(prefix="llm_twin_clone_") as tmp:
        target = Path(tmp) / name
        clone(url, target, settings.GITHUB_CLONE_TIMEOUT_S, int(settings.GITHUB_CLONE_MAX_MB * 1024 * 1024))
        files = read_tree(target, settings.GITHUB_MAX_FILE_KB * 1024)
        published = last_commit_date(target)
    if not files:
        raise CrawlError(f"empty repository: no text files to keep in {url}")
    return files, published


def _git_env() -> dict[str, str]:
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "echo", "GIT_LFS_SKIP_SMUDGE": "1"}


def _size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                continue
    return total


def clone(url: str, target: Path, timeout_s: float, max_bytes: int) -> None:
    """Shallow clone; stops git and raises CrawlError past the timeout or the size cap."""
    command = ["git", "clone", "--depth", "1", "--single-branch", "--no-tags", "--quiet", url, str(target)]
    started = time.monotonic()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=_git_env())
        try:
            while process.poll() is None:
                if time.monotonic() - started > timeout_s:
                    raise CrawlError(f"git clone timed out after {timeout_s:g}s: {url}")
                if target.exists() and _size(target) > max_bytes:
                    raise CrawlError(f"repository too large: over GITHUB_CLONE_MAX_MB={max_bytes / 2**20:g} MB: {url}")
                time.sleep(0.1)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        # git may finish between two polls (or before the first on a busy machine): the limit
        # still holds, whatever the moment it is noticed.
        if time.monotonic() - started > timeout_s:
            raise CrawlError(f"git clone timed out after {timeout_s:g}s: {url}")
        if process.returncode != 0:
            err.seek(0)
            lines = [ln for ln in err.read().decode("utf-8", "replace").splitlines() if ln.strip()]
            # git's first "fatal:" line names the cause; the lines after it are generic advice.
            fatal = [ln for ln in lines if ln.startswith("fatal:")]
            reason = fatal[0] if fatal else lines[-1] if lines else f"exit {process.returncode}"
            raise CrawlError(f"git clone failed for {url}: {reason}")
    if _size(target) > max_bytes:
        raise CrawlError(f"repository too large: over GITHUB_CLONE_MAX_MB={max_bytes / 2**20:g} MB: {url}")


def read_tree(
    root: Path, max_file_bytes: int, max_total_bytes: int | None = None, skip_hidden: bool = False
) -> dict[str, str]:
    """``{relative posix path: exact text}`` of the files worth keeping, sorted by path.

    ``max_total_bytes``: CrawlError once the kept text passes it. ``skip_hidden``: leave out every
    file and folder whose name starts with a dot (for folders that are not clones: ``.env``, caches).
    """
    files: dict[str, str] = {}
    total = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIPPED_DIRS and not d.endswith(".egg-info") and not (skip_hidden and d.startswith("."))
        )
        for file_name in sorted(names):
            path = Path(folder) / file_name
            rel = path.relative_to(root).as_posix()
            reason = "hidden" if skip_hidden and file_name.startswith(".") else None
            reason = reason or _skip_reason(path, file_name, max_file_bytes)
            if reason is None:
                data = path.read_bytes()
                if b"\x00" in data[:8192]:
                    reason = "binary"
                else:
                    try:
                        files[rel] = data.decode("utf-8")
                    except UnicodeDecodeError:
                        reason = "not UTF-8 text"
                    else:
                        total += len(data)
                        if max_total_bytes is not None and total > max_total_bytes:
                            raise CrawlError(
                                f"repository too large: over {max_total_bytes / 2**20:g} MB of text in {root}"
                            )
            if reason:
                logger.debug("repository file {} left out: {}", rel, reason)
    return files


def _skip_reason(path: Path, file_name: str, max_file_bytes: int) -> str | None:
    if path.is_symlink() or not path.is_file():
        return "not a regular file"
    if file_name in LOCK_FILES or file_name.endswith(".lock"):
        return "lock file"
    if path.suffix.lower() in BINARY_SUFFIXES or file_name.endswith(".min.js"):
        return "binary or generated"
    if path.stat().st_size > max_file_bytes:
        return "too large"
    return None


def last_commit_date(repo: Path) -> datetime | None:
    result = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%cI"],
        capture_output=True,
        text=True,
        env=_git_env(),
        timeout=30,
    )
    value = result.stdout.strip()
    return datetime.fromisoformat(value) if result.returncode == 0 and value else None
