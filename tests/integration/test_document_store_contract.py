"""One contract, every warehouse adapter: embedded SQLite, MongoDB (mongomock here; a real
server when TEST_MONGODB_URI is set)."""

from __future__ import annotations

import os
import uuid

import pytest

from llm_engineering.exceptions import DuplicateKeyError
from llm_engineering.infrastructure.db.document_store import MongoDocumentStore, SQLiteDocumentStore

ADAPTERS = ["sqlite", "mongomock"] + (["mongodb"] if os.environ.get("TEST_MONGODB_URI") else [])


@pytest.fixture(params=ADAPTERS)
def store(request, tmp_path):
    if request.param == "sqlite":
        s = SQLiteDocumentStore(tmp_path / "warehouse.sqlite3")
    elif request.param == "mongomock":
        mongomock = pytest.importorskip("mongomock")
        s = MongoDocumentStore("mongodb://mock", "contract", client=mongomock.MongoClient())
    else:
        db = f"contract_{uuid.uuid4().hex[:8]}"
        s = MongoDocumentStore(os.environ["TEST_MONGODB_URI"], db)
    s.ensure_collection("articles", unique=("link",), indexed=("author_id",))
    yield s
    if request.param == "mongodb":
        s.client.drop_database(s.db.name)
    s.close()


def doc(i, **extra):
    return {"_id": f"id-{i}", "link": f"https://blog.example/{i}", "author_id": "a1", "n": i, **extra}


def test_insert_find_count_delete(store):
    assert store.insert_many("articles", [doc(1), doc(2), doc(3, author_id="a2")]) == 3
    assert store.count("articles") == 3
    assert [d["n"] for d in store.find("articles", {"author_id": "a1"})] == [1, 2]
    assert store.find_one("articles", {"_id": "id-3"})["author_id"] == "a2"
    assert store.find("articles", {"n": {"$in": [1, 3]}}, limit=5) == [doc(1), doc(3, author_id="a2")]
    assert store.find("articles", limit=1) == [doc(1)]
    assert store.delete("articles", {"author_id": "a1"}) == 2
    assert store.count("articles") == 1


def test_nested_fields_and_unicode(store):
    korean = {"Title": "한국어 제목", "Content": "오늘은 날씨가 좋다.\n\n  두 번째 문단 — café"}
    store.insert_many("articles", [doc(1, content=korean)])
    found = store.find("articles", {"content.Title": "한국어 제목"})
    assert found[0]["content"] == korean


def test_insert_duplicate_writes_nothing(store):
    store.insert_many("articles", [doc(1)])
    with pytest.raises(DuplicateKeyError):
        store.insert_many("articles", [doc(2), doc(3, link="https://blog.example/1")])
    with pytest.raises(DuplicateKeyError):
        store.insert_many("articles", [doc(4), doc(4)])
    assert store.count("articles") == 1


def test_unique_key_enforced_by_the_store_on_upsert(store):
    store.upsert_many("articles", [doc(1)])
    with pytest.raises(DuplicateKeyError):
        # a different _id with a link that is already stored, matched on _id
        store.upsert_many("articles", [doc(9, link="https://blog.example/1")], key="_id")
    assert store.count("articles") == 1


def test_upsert_on_natural_key_keeps_stored_id(store):
    assert store.upsert_many("articles", [doc(1), doc(2)], key="link") == (2, 0)
    changed = {**doc(1), "_id": "another-id", "n": 100}
    assert store.upsert_many("articles", [changed, doc(3)], key="link") == (1, 1)
    stored = store.find_one("articles", {"link": "https://blog.example/1"})
    assert stored["_id"] == "id-1" and stored["n"] == 100
    assert store.count("articles") == 3


def test_missing_collection_reads_as_empty(store):
    assert store.find("nothing_here") == []
    assert store.count("nothing_here") == 0
    assert store.delete("nothing_here") == 0


def test_collections_listed(store):
    store.insert_many("articles", [doc(1)])
    store.upsert_many("users", [{"_id": "u1", "name_key": "김철수"}])
    assert {"articles", "users"} <= set(store.collections())


def test_rejects_unsafe_names(store):
    with pytest.raises(ValueError):
        store.find("articles", {"link') OR 1=1 --": "x"})
    with pytest.raises(ValueError):
        store.ensure_collection('bad"; DROP TABLE x; --')


def test_upsert_on_natural_key_refuses_an_id_stored_under_another_key(store):
    store.upsert_many("articles", [doc(1), doc(2)], key="link")
    intruder = {**doc(7), "_id": "id-1"}  # a new link carrying the _id of link 1
    with pytest.raises(DuplicateKeyError, match=r"_id id-1 is already stored with link='https://blog.example/1'"):
        store.upsert_many("articles", [doc(3), intruder], key="link")
    assert store.find_one("articles", {"_id": "id-1"})["link"] == "https://blog.example/1"
    assert store.count("articles") == 2  # doc(3) of the refused batch was not written either


def test_find_newest_first_reads_only_the_limit(store):
    store.insert_many("articles", [doc(i) for i in range(6)])
    assert [d["n"] for d in store.find("articles", limit=3, newest_first=True)] == [5, 4, 3]
    assert [d["n"] for d in store.find("articles", limit=2)] == [0, 1]


def test_a_transaction_spans_collections(tmp_path):
    store = SQLiteDocumentStore(tmp_path / "warehouse.sqlite3")
    store.ensure_collection("users", unique=("name",))
    store.ensure_collection("articles", unique=("link",))
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert_many("users", [{"_id": "u1", "name": "Dana"}], key="name")
        store.upsert_many("articles", [doc(1)], key="link")
        raise RuntimeError("killed half-way")
    assert store.count("users") == 0 and store.count("articles") == 0
    with store.transaction():
        store.upsert_many("users", [{"_id": "u1", "name": "Dana"}], key="name")
        store.upsert_many("articles", [doc(1)], key="link")
    assert store.count("users") == 1 and store.count("articles") == 1
    store.close()
