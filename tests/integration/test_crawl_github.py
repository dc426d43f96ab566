"""GitHub repositories cloned with ``git clone --depth 1`` from a local bare repository that
git itself substitutes for https://github.com/ (``url.<base>.insteadOf``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "crawl"))

from crawl_helpers import crawl_settings, github_redirect_env, make_bare_repo  # noqa: E402

from llm_engineering.application.etl import crawl_links  # noqa: E402
from llm_engineering.domain.documents import RepositoryDocument, UserDocument  # noqa: E402

README = "# 작은 트윈\n\nA twin of my writing.\t Tabs,  double  spaces and trailing blanks stay.   \n\n\n"
SOURCE = 'def hello(name: str) -> str:\r\n    return f"안녕, {name}"\r\n'
FILES = {
    "README.md": README,
    "src/twin/hello.py": SOURCE,
    "src/twin/__init__.py": "",
    "docs/guide.md": "Use it.\n",
    "poetry.lock": "# lock\n" * 10,
    "package-lock.json": "{}\n",
    "node_modules/left/index.js": "module.exports = 1;\n",
    "vendor/lib/a.go": "package lib\n",
    "assets/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "data/blob.dat": b"\x00\x01\x02binary",
    "legacy/latin1.txt": "café".encode("latin-1"),
}


@pytest.fixture
def user():
    return UserDocument.get_or_create_by_name("Dana Kim")


@pytest.fixture
def git_root(tmp_path, monkeypatch):
    root = tmp_path / "git"
    make_bare_repo(root, "dana", "twin", FILES)
    make_bare_repo(root, "dana", "big", {"README.md": "big\n", "data.txt": "x" * 3_000_000})
    github_redirect_env(monkeypatch, root)
    return root


def test_repository_is_cloned_with_exact_text_and_noise_left_out(user, git_root):
    link = "https://github.com/dana/twin"
    [outcome] = crawl_links(user, [link], settings=crawl_settings(), progress=False)
    assert outcome.status == "ok", outcome.reason
    assert outcome.crawler == "github"
    doc = RepositoryDocument.find(link=link)
    assert doc.name == "twin" and doc.platform == "github"
    assert set(doc.content) == {"README.md", "src/twin/hello.py", "src/twin/__init__.py", "docs/guide.md"}
    assert doc.content["README.md"] == README
    assert doc.content["src/twin/hello.py"] == SOURCE
    assert doc.published_at is not None
    # a tree link of the same repository is the same document, already crawled
    [again] = crawl_links(user, [link + "/tree/main/src"], settings=crawl_settings(), progress=False)
    assert again.status == "skipped" and RepositoryDocument.count() == 1


def test_missing_repository_fails_with_gits_reason(user, git_root):
    [outcome] = crawl_links(user, ["https://github.com/dana/does-not-exist"], settings=crawl_settings(), progress=False)
    assert outcome.status == "failed"
    assert "git clone failed" in outcome.reason
    assert RepositoryDocument.count() == 0


def test_repository_over_the_size_cap_is_refused(user, git_root):
    settings = crawl_settings(GITHUB_CLONE_MAX_MB=1.0)
    [outcome] = crawl_links(user, ["https://github.com/dana/big"], settings=settings, progress=False)
    assert outcome.status == "failed" and "repository too large" in outcome.reason
    assert RepositoryDocument.count() == 0
    [small] = crawl_links(user, ["https://github.com/dana/twin"], settings=settings, progress=False)
    assert small.status == "ok"


def test_clone_timeout(user, git_root):
    settings = crawl_settings(GITHUB_CLONE_TIMEOUT_S=0.001)
    [outcome] = crawl_links(user, ["https://github.com/dana/twin"], settings=settings, progress=False)
    assert outcome.status == "failed" and "timed out" in outcome.reason
    assert RepositoryDocument.count() == 0
