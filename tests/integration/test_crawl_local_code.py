"""Local code as repositories: a folder with a project manifest read in place, and local git
repositories (working tree or bare) cloned with ``git clone --depth 1 file://``."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "crawl"))

from crawl_helpers import crawl_settings, git  # noqa: E402

from llm_engineering.application.crawlers import CrawlerDispatcher  # noqa: E402
from llm_engineering.application.etl import crawl_links  # noqa: E402
from llm_engineering.domain.documents import ArticleDocument, RepositoryDocument, UserDocument  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CODE = ROOT / "data" / "sample" / "code"
MAKE_GIT_REPO = ROOT / "data" / "sample" / "make_git_repo.sh"
SOURCE = '"""소금."""\r\n\ndef pinch(text: str) -> str:\t# 탭 and  two spaces  \n    return text.strip()\n\n\n'
PROJECT = {
    "pyproject.toml": '[project]\nname = "jaeryo"\nversion = "0.1.0"\n',
    "README.md": "# 재료\n\nIngredients.   \n",
    "jaeryo/__init__.py": SOURCE,
    "notes/ideas.md": "# Ideas\n\nKept as part of the project.\n",
    "uv.lock": "version = 1\n",
    ".env": "OPENAI_API_KEY=sk-never-stored\n",
    ".pytest_cache/v/cache/lastfailed": "{}\n",
    "node_modules/left/index.js": "module.exports = 1;\n",
    "jaeryo.egg-info/PKG-INFO": "Name: jaeryo\n",
    "jaeryo/__pycache__/x.cpython-312.pyc": b"\x00\x01",
    "assets/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00",
    "data/latin1.txt": "café".encode("latin-1"),
}
KEPT = {"pyproject.toml", "README.md", "jaeryo/__init__.py", "notes/ideas.md"}


@pytest.fixture
def user():
    return UserDocument.get_or_create_by_name("Jiwon Ashby")


def _crawl(user, links, **kw):
    settings = crawl_settings(**kw.pop("settings", {}))
    return crawl_links(user, links, allow_local_files=True, settings=settings, progress=False, **kw)


def _write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return root


def _sample_repo(tmp_path: Path) -> Path:
    dest = tmp_path / "sogeum"
    subprocess.run(["bash", str(MAKE_GIT_REPO), str(dest)], check=True, capture_output=True, timeout=60)
    return dest


def test_a_project_folder_becomes_one_repository_with_exact_text(user, tmp_path):
    project = _write(tmp_path / "jaeryo-src", PROJECT)
    [outcome] = _crawl(user, [str(project)])
    assert outcome.status == "ok" and outcome.crawler == "local_code" and outcome.documents == 1
    [repo] = RepositoryDocument.bulk_find(author_id=user.id)
    assert repo.name == "jaeryo"  # from pyproject.toml
    assert repo.link == project.resolve().as_uri() and repo.platform == "local"
    assert set(repo.content) == KEPT  # secrets, caches, vendored, lock, binary, non-UTF-8 left out
    assert repo.content["jaeryo/__init__.py"].encode("utf-8") == SOURCE.encode("utf-8")
    assert ArticleDocument.count() == 0  # the project's Markdown is not also read as articles


def test_the_sample_authors_code_folder(user):
    [outcome] = _crawl(user, [SAMPLE_CODE.as_uri()])
    assert outcome.status == "ok" and outcome.crawler == "local_code"
    [repo] = RepositoryDocument.bulk_find(author_id=user.id)
    assert repo.name == "sogeum"
    assert {"README.md", "pyproject.toml", "sogeum/chunking.py"} <= set(repo.content)
    for rel, text in repo.content.items():
        assert text.encode("utf-8") == (SAMPLE_CODE / rel).read_bytes()


def test_a_git_working_tree_is_cloned_so_only_committed_files_count(user, tmp_path):
    repo_dir = _sample_repo(tmp_path)
    (repo_dir / "scratch.py").write_text("uncommitted = True\n", encoding="utf-8")
    (repo_dir / "README.md").write_text("edited but not committed\n", encoding="utf-8")
    [outcome] = _crawl(user, [str(repo_dir)])
    assert outcome.status == "ok" and outcome.crawler == "local_code"
    [repo] = RepositoryDocument.bulk_find(author_id=user.id)
    assert "scratch.py" not in repo.content
    assert repo.content["README.md"].encode("utf-8") == (SAMPLE_CODE / "README.md").read_bytes()
    assert repo.published_at == datetime(2025, 2, 24, 21, 30, tzinfo=timezone(timedelta(hours=9)))
    assert repo.link == repo_dir.resolve().as_uri() and repo.name == "sogeum"


def test_a_bare_repository_in_a_korean_folder(user, tmp_path):
    work = _sample_repo(tmp_path)
    bare = tmp_path / "저장소" / "sogeum.git"
    git("clone", "-q", "--bare", str(work), str(bare))
    assert CrawlerDispatcher(allow_local_files=True).get_crawler(bare.as_uri()).name == "local_code"
    [outcome] = _crawl(user, [bare.as_uri()])
    assert outcome.status == "ok", outcome.reason
    [repo] = RepositoryDocument.bulk_find(author_id=user.id)
    assert repo.link == bare.resolve().as_uri()
    assert repo.content["sogeum/normalize.py"].encode("utf-8") == (SAMPLE_CODE / "sogeum/normalize.py").read_bytes()


def test_which_local_folders_count_as_code(tmp_path):
    dispatcher = CrawlerDispatcher(allow_local_files=True)
    notes = _write(tmp_path / "notes", {"a.md": "# A\n\ntext\n"})
    nested = _write(tmp_path / "repo" / "docs", {"b.md": "# B\n\ntext\n"})
    git("init", "-q", str(tmp_path / "repo"))
    for manifest in ("package.json", "Cargo.toml", "go.mod", "pom.xml", "setup.py"):
        folder = _write(tmp_path / manifest.replace(".", "_"), {manifest: "x\n", "README.md": "# R\n"})
        assert dispatcher.get_crawler(str(folder)).name == "local_code", manifest
    assert dispatcher.get_crawler(str(tmp_path / "repo")).name == "local_code"
    assert dispatcher.get_crawler(str(notes)).name == "local_files"
    assert dispatcher.get_crawler(str(nested)).name == "local_files"  # inside a repository, not its top
    assert dispatcher.get_crawler(str(ROOT / "data" / "sample" / "articles")).name == "local_files"


def test_local_code_needs_permission(user):
    [outcome] = crawl_links(user, [str(SAMPLE_CODE)], settings=crawl_settings(), progress=False)
    assert outcome.status == "failed"
    [outcome] = crawl_links(user, [SAMPLE_CODE.as_uri()], settings=crawl_settings(), progress=False)
    assert outcome.status == "failed" and "allow_local_files" in outcome.reason
    assert RepositoryDocument.count() == 0


def test_too_large_empty_and_broken_repositories_are_recorded_failures(user, tmp_path):
    big = _write(
        tmp_path / "big", {"pyproject.toml": "[project]\n", **{f"part{i}.txt": "가" * 100_000 for i in range(4)}}
    )
    empty_project = _write(tmp_path / "empty", {"package.json": b"\x00\x01binary"})
    no_commits = tmp_path / "no-commits"
    git("init", "-q", str(no_commits))
    broken = _write(tmp_path / "broken", {".git/HEAD": "not a repository\n"})
    outcomes = _crawl(
        user, [str(big), str(empty_project), str(no_commits), str(broken)], settings={"GITHUB_CLONE_MAX_MB": 1}
    )
    assert [o.status for o in outcomes] == ["failed"] * 4, outcomes
    assert "too large" in outcomes[0].reason
    assert "empty project" in outcomes[1].reason
    assert "empty repository" in outcomes[2].reason
    assert "git clone failed" in outcomes[3].reason and "does not appear to be a git repository" in outcomes[3].reason
    assert RepositoryDocument.count() == 0


def test_a_second_run_skips_and_force_updates_the_same_document(user, tmp_path):
    project = _write(tmp_path / "jaeryo-src", PROJECT)
    [first] = _crawl(user, [str(project)])
    [again] = _crawl(user, [project.as_uri()])
    assert first.status == "ok" and again.status == "skipped"
    (project / "jaeryo" / "__init__.py").write_text("VERSION = 2\n", encoding="utf-8")
    [forced] = _crawl(user, [str(project)], force=True)
    assert forced.status == "ok"
    [repo] = RepositoryDocument.bulk_find(author_id=user.id)
    assert repo.content["jaeryo/__init__.py"] == "VERSION = 2\n"
