"""Local drafts, LinkedIn data exports and Notion exports (folders and ZIPs)."""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "crawl"))

from crawl_helpers import FIXTURES, crawl_settings  # noqa: E402

from llm_engineering.application.etl import crawl_links  # noqa: E402
from llm_engineering.domain.documents import ArticleDocument, PostDocument, UserDocument  # noqa: E402

DRAFTS = FIXTURES / "local_drafts"
LINKEDIN = FIXTURES / "linkedin_export"
NOTION = FIXTURES / "notion_export"


@pytest.fixture
def user():
    return UserDocument.get_or_create_by_name("Dana Kim")


def _crawl(user, links, **kw):
    return crawl_links(user, links, allow_local_files=True, settings=crawl_settings(), progress=False, **kw)


def _zip(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return target


def test_local_files_are_refused_unless_allowed(user):
    [outcome] = crawl_links(user, [DRAFTS.as_uri()], settings=crawl_settings(), progress=False)
    assert outcome.status == "failed" and "unsupported scheme file:" in outcome.reason
    assert ArticleDocument.count() == 0


def test_a_folder_of_drafts_becomes_articles_kept_exactly(user):
    [outcome] = _crawl(user, [str(DRAFTS)])
    assert outcome.status == "ok" and outcome.crawler == "local_files" and outcome.documents == 4
    korean_file = DRAFTS / "한국어-메모.md"
    doc = ArticleDocument.find(link=korean_file.resolve().as_uri())
    assert doc.content["Title"] == "작은 모델에 대한 메모"
    assert doc.content["Content"].encode("utf-8") == korean_file.read_bytes()  # byte for byte
    html = ArticleDocument.find(link=(DRAFTS / "talk-abstract.html").resolve().as_uri())
    assert html.content["Title"] == "Talk abstract: Twins on a laptop"
    assert "learns one author's style" in html.content["Content"] and "back" not in html.content["Content"]
    txt = ArticleDocument.find(link=(DRAFTS / "reading-notes.txt").resolve().as_uri())
    assert txt.content["Title"] == "reading-notes"


def test_a_single_file_link_and_bad_files(user, tmp_path):
    good = tmp_path / "note.md"
    good.write_text("# 노트\n\n짧지만 충분한 본문입니다.\n", encoding="utf-8")
    bad = tmp_path / "broken.md"
    bad.write_bytes("# 제목\n깨진 인코딩".encode("euc-kr"))
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n", encoding="utf-8")
    outcomes = _crawl(user, [good.as_uri(), str(bad), str(empty), str(tmp_path / "nope.md")])
    assert [o.status for o in outcomes] == ["ok", "failed", "failed", "failed"]
    assert "not valid UTF-8" in outcomes[1].reason
    assert "empty article" in outcomes[2].reason
    assert "not found" in outcomes[3].reason
    assert ArticleDocument.count() == 1


@pytest.mark.parametrize("as_zip", [False, True])
def test_linkedin_export_gives_posts(user, tmp_path, as_zip):
    source = _zip(LINKEDIN, tmp_path / "Basic_LinkedInDataExport_06-01-2024.zip") if as_zip else LINKEDIN
    [outcome] = _crawl(user, [str(source)])
    assert outcome.status == "ok" and outcome.crawler == "linkedin_export"
    assert outcome.documents == 2  # the repost without commentary carries no writing
    posts = {p.link: p for p in PostDocument.bulk_find()}
    first = posts["https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%3A7201000000000000001"]
    assert first.content["Content"].splitlines()[1] == "1. Timeouts on everything."
    korean = posts["https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%3A7201000000000000002"]
    assert korean.content["Content"].startswith("작은 모델로도 충분히 쓸모 있는 도구를")
    assert korean.image == "https://media.example/photo.jpg"
    assert korean.published_at.isoformat() == "2024-05-20T18:03:10+00:00"
    assert korean.platform == "linkedin"
    [again] = _crawl(user, [str(source)])
    assert again.status == "skipped" and PostDocument.count() == 2


def test_linkedin_urls_explain_the_export(user):
    [outcome] = crawl_links(user, ["https://www.linkedin.com/in/dana"], settings=crawl_settings(), progress=False)
    assert outcome.status == "failed" and "export" in outcome.reason


@pytest.mark.parametrize("as_zip", [False, True])
def test_notion_export_pages_become_articles_with_stable_links(user, tmp_path, as_zip):
    source = _zip(NOTION, tmp_path / "Export-3c1f.zip") if as_zip else NOTION
    [outcome] = _crawl(user, [str(source)])
    assert outcome.status == "ok" and outcome.crawler == "notion_export" and outcome.documents == 3
    checklist = ArticleDocument.find(link="https://www.notion.so/0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    assert checklist.content["Title"] == "Deploy checklist"
    assert "\n    indented code stays indented" in checklist.content["Content"]
    retro = ArticleDocument.find(link="https://www.notion.so/9a8b7c6d5e4f30211203f4e5d6c7b8a9")
    assert retro.content["Title"] == "회고 노트"
    assert retro.content["Content"] == (
        "이번 분기에는 크롤러를 다시 만들었습니다. 실패한 링크마다 이유를 남기도록 바꾸었더니 "
        "문제를 찾는 시간이 절반으로 줄었습니다."
    )


def test_a_new_notion_export_updates_the_same_documents(user, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(NOTION, export)
    _crawl(user, [str(export)])
    page = next(export.rglob("Deploy checklist *.md"))
    page.write_text("# Deploy checklist\n\nOnly one rule now: run it twice.\n", encoding="utf-8")
    [outcome] = _crawl(user, [str(export)], force=True)
    assert outcome.status == "ok"
    assert ArticleDocument.count() == 3
    doc = ArticleDocument.find(link="https://www.notion.so/0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    assert doc.content["Content"] == "Only one rule now: run it twice."


def test_a_broken_zip_is_a_recorded_failure(user, tmp_path):
    broken = tmp_path / "export.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    [outcome] = _crawl(user, [str(broken)])
    assert outcome.status == "failed"
    assert ArticleDocument.count() == 0 and PostDocument.count() == 0
