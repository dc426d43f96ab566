"""Warehouse export/import in the book's format: round trip, idempotency, bad files."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from llm_engineering.application.warehouse import export_warehouse, import_warehouse
from llm_engineering.domain.documents import ArticleDocument, PostDocument, UserDocument
from llm_engineering.domain.ports import document_store
from llm_engineering.exceptions import ImportFileError, StoreUnavailableError

USER_ID = "2f0c1d7e-0000-4000-8000-00000000abcd"


def book_dump(folder, n_articles=3):
    """Files shaped like the book's own warehouse dump (first/last name users, random _ids)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "UserDocument.json").write_text(
        json.dumps([{"first_name": "Jane", "last_name": "Writer", "_id": USER_ID}])
    )
    articles = [
        {
            "content": {"Title": f"Post {i}", "Subtitle": None, "Content": f"Body {i}\n\n둘째 문단 {i}"},
            "platform": "blog.example",
            "author_id": USER_ID,
            "author_full_name": "Jane Writer",
            "link": f"https://blog.example/posts/{i}",
            "_id": f"a964f3ac-e92f-4fcb-847a-a46da3d697{i:02d}",
        }
        for i in range(n_articles)
    ]
    (folder / "ArticleDocument.json").write_text(json.dumps(articles, ensure_ascii=False))
    (folder / "PostDocument.json").write_text("[]")
    (folder / "instruct_datasets.json").write_text("{}")  # not a collection: ignored
    return articles


def test_book_format_imports_twice_with_same_counts(tmp_path):
    articles = book_dump(tmp_path / "dump")
    first = import_warehouse(tmp_path / "dump")
    assert first.inserted == {"UserDocument": 1, "ArticleDocument": 3, "PostDocument": 0}
    assert first.skipped_files == ["instruct_datasets.json"]
    second = import_warehouse(tmp_path / "dump")
    assert second.inserted == {"UserDocument": 0, "ArticleDocument": 0, "PostDocument": 0}
    assert (UserDocument.count(), ArticleDocument.count()) == (1, 3)
    stored = ArticleDocument.find(link=articles[1]["link"])
    assert str(stored.id) == articles[1]["_id"]  # the dump's ids are kept
    assert stored.content["Content"] == articles[1]["content"]["Content"]
    user = UserDocument.find_by_name("jane  WRITER")
    assert str(user.id) == USER_ID and user.full_name == "Jane Writer"


def test_export_then_import_into_an_empty_warehouse_round_trips(tmp_path, monkeypatch):
    book_dump(tmp_path / "dump")
    import_warehouse(tmp_path / "dump")
    PostDocument(
        content={"Content": "짧은 글"}, platform="linkedin", author_id=USER_ID, author_full_name="Jane Writer"
    ).save()
    counts = export_warehouse(tmp_path / "export")
    assert counts["ArticleDocument"] == 3 and counts["PostDocument"] == 1 and counts["UserDocument"] == 1
    exported = json.loads((tmp_path / "export" / "ArticleDocument.json").read_text())
    assert all("_id" in d for d in exported)
    before = sorted(d.to_mongo()["_id"] for d in ArticleDocument.bulk_find())

    from conftest import reset_factories

    monkeypatch.setenv("DATA_DIR", str(tmp_path / "second"))
    reset_factories()
    assert ArticleDocument.count() == 0
    report = import_warehouse(tmp_path / "export")
    assert {k: report.inserted[k] for k in ("ArticleDocument", "PostDocument", "UserDocument")} == {
        "ArticleDocument": 3,
        "PostDocument": 1,
        "UserDocument": 1,
    }
    assert sorted(d.to_mongo()["_id"] for d in ArticleDocument.bulk_find()) == before
    assert PostDocument.bulk_find()[0].content == {"Content": "짧은 글"}


def test_corrupt_file_imports_nothing(tmp_path):
    book_dump(tmp_path / "dump")
    (tmp_path / "dump" / "PostDocument.json").write_text('[{"content": ')
    with pytest.raises(ImportFileError, match="PostDocument.json is not valid JSON"):
        import_warehouse(tmp_path / "dump")
    assert UserDocument.count() == 0 and ArticleDocument.count() == 0


@pytest.mark.parametrize(
    "payload, message",
    [
        ('{"not": "a list"}', "must hold a JSON list"),
        ("[1, 2]", "item 0 is not an object"),
        ('[{"platform": "x"}]', "item 0"),
    ],
)
def test_malformed_documents_import_nothing(tmp_path, payload, message):
    book_dump(tmp_path / "dump")
    (tmp_path / "dump" / "ArticleDocument.json").write_text(payload)
    with pytest.raises(ImportFileError, match=message):
        import_warehouse(tmp_path / "dump")
    assert UserDocument.count() == 0


def test_invalid_utf8_imports_nothing(tmp_path):
    book_dump(tmp_path / "dump")
    (tmp_path / "dump" / "ArticleDocument.json").write_bytes(b'[{"content": "\xff\xfe"}]')
    with pytest.raises(ImportFileError, match="not UTF-8"):
        import_warehouse(tmp_path / "dump")


def test_missing_folder_or_no_collection_files(tmp_path):
    with pytest.raises(ImportFileError, match="does not exist"):
        import_warehouse(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.json").write_text("[]")
    with pytest.raises(ImportFileError, match="no warehouse files"):
        import_warehouse(tmp_path / "empty")


def test_duplicate_links_in_an_import_are_refused_whole(tmp_path):
    articles = book_dump(tmp_path / "dump")
    articles[2]["link"] = articles[0]["link"] + "/"  # the same page once canonicalised
    (tmp_path / "dump" / "ArticleDocument.json").write_text(json.dumps(articles))
    with pytest.raises(ImportFileError, match="share link"):
        import_warehouse(tmp_path / "dump")
    assert ArticleDocument.count() == 0 and UserDocument.count() == 0


def test_import_does_not_change_existing_data_when_a_file_is_bad(tmp_path):
    book_dump(tmp_path / "good")
    import_warehouse(tmp_path / "good")
    before = [d.to_mongo() for d in ArticleDocument.bulk_find()]
    book_dump(tmp_path / "bad", n_articles=5)
    (tmp_path / "bad" / "PostDocument.json").write_text("[{oops")
    with pytest.raises(ImportFileError):
        import_warehouse(tmp_path / "bad")
    assert [d.to_mongo() for d in ArticleDocument.bulk_find()] == before


def test_cli_import_export_and_errors(tmp_path):
    book_dump(tmp_path / "dump")
    env_run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "tools.data_warehouse", *args], capture_output=True, text=True, timeout=120
    )
    ok = env_run("import", "--dir", str(tmp_path / "dump"))
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.strip().splitlines()[-1])["warehouse_counts"]["ArticleDocument"] == 3
    out = env_run("export", "--dir", str(tmp_path / "out"))
    assert out.returncode == 0 and (tmp_path / "out" / "UserDocument.json").exists()
    bad = env_run("import", "--dir", str(tmp_path / "missing"))
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr


def test_unreachable_mongodb_fails_fast_naming_the_setting(monkeypatch):
    monkeypatch.setenv("DATABASE_HOST", "mongodb://twin:hunter2-secret@127.0.0.1:9/?directConnection=true")
    monkeypatch.setenv("DATABASE_TIMEOUT_S", "1")
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="DATABASE_HOST") as err:
        document_store()
    assert time.monotonic() - started < 10
    assert "hunter2-secret" not in str(err.value)


KILL_DURING_ARTICLES = """
import os, signal, sys
from llm_engineering.application.warehouse import import_warehouse
from llm_engineering.bootstrap import bootstrap
from llm_engineering.domain.documents import ArticleDocument

def killed(*args, **kwargs):  # users are written by now; the process dies before articles are
    os.kill(os.getpid(), signal.SIGKILL)

ArticleDocument.bulk_upsert = killed
bootstrap()
import_warehouse(sys.argv[1])
"""


def test_an_import_killed_half_way_leaves_nothing(tmp_path, data_dir):
    book_dump(tmp_path / "dump")
    killed = subprocess.run(
        [sys.executable, "-c", KILL_DURING_ARTICLES, str(tmp_path / "dump")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (UserDocument.count(), ArticleDocument.count()) == (0, 0)
    report = import_warehouse(tmp_path / "dump")  # and a re-import then writes everything
    assert report.inserted == {"UserDocument": 1, "ArticleDocument": 3, "PostDocument": 0}


def test_an_id_stored_under_another_link_is_refused_not_overwritten(tmp_path):
    articles = book_dump(tmp_path / "dump")
    import_warehouse(tmp_path / "dump")
    before = [d.to_mongo() for d in ArticleDocument.bulk_find()]
    stolen = {**articles[0], "link": "https://blog.example/posts/elsewhere", "content": {"Content": "new"}}
    (tmp_path / "next").mkdir()
    (tmp_path / "next" / "ArticleDocument.json").write_text(json.dumps([stolen]))
    with pytest.raises(
        ImportFileError, match=r"_id a964f3ac-\S+ is already stored with link='https://blog.example/posts/0'"
    ):
        import_warehouse(tmp_path / "next")
    assert [d.to_mongo() for d in ArticleDocument.bulk_find()] == before


def test_an_author_id_naming_no_user_is_refused(tmp_path):
    articles = book_dump(tmp_path / "dump")
    articles[1]["author_id"] = "7d1d3a52-1111-4000-8000-000000000000"
    (tmp_path / "dump" / "ArticleDocument.json").write_text(json.dumps(articles))
    with pytest.raises(ImportFileError, match=r"ArticleDocument.json item 1: author_id 7d1d3a52-\S+ names no user"):
        import_warehouse(tmp_path / "dump")
    assert (UserDocument.count(), ArticleDocument.count()) == (0, 0)


def test_an_imported_author_already_stored_under_another_id_keeps_their_documents(tmp_path):
    stored = UserDocument.get_or_create_by_name("Jane Writer")
    assert str(stored.id) != USER_ID
    book_dump(tmp_path / "dump")
    import_warehouse(tmp_path / "dump")
    assert UserDocument.count() == 1
    assert {d.author_id for d in ArticleDocument.bulk_find()} == {stored.id}
