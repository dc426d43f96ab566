"""Deterministic identities and the document models."""

from __future__ import annotations

import importlib
import uuid

import pytest
from pydantic import ValidationError

from llm_engineering.domain.cleaned_documents import cleaned_class
from llm_engineering.domain.documents import (
    ArticleDocument,
    PostDocument,
    RepositoryDocument,
    UserDocument,
    declared_categories,
    document_class,
)
from llm_engineering.domain.embedded_chunks import embedded_class
from llm_engineering.domain.identity import canonical_link, name_key

AUTHOR = uuid.UUID("00000000-0000-4000-8000-000000000001")


@pytest.mark.parametrize(
    "raw, canonical",
    [
        ("HTTPS://Blog.Example.com:443/post/1/#comments", "https://blog.example.com/post/1"),
        ("https://blog.example.com/post/1?utm_source=x&page=2", "https://blog.example.com/post/1?page=2"),
        ("http://velog.io/@개발자/첫-글/", "http://velog.io/@개발자/첫-글"),
        ("https://example.com/", "https://example.com"),
    ],
)
def test_canonical_link(raw, canonical):
    assert canonical_link(raw) == canonical


def article(link="https://blog.example/p/1", **content):
    return ArticleDocument(
        content={"Title": "제목", "Content": "본문", **content},
        platform="blog.example",
        author_id=AUTHOR,
        author_full_name="홍길동",
        link=link,
    )


def test_same_source_same_id_and_changed_content_changes_hash():
    a, b = article(), article(link="https://blog.example/p/1/#top")
    assert a.id == b.id and a.link == b.link
    assert a.content_hash == b.content_hash
    c = article(Content="바뀐 본문")
    assert c.id == a.id and c.content_hash != a.content_hash
    assert article(link="https://blog.example/p/2").id != a.id


def test_categories_do_not_collide_and_are_registered():
    post = PostDocument(
        content={"Content": "x"}, platform="p", author_id=AUTHOR, author_full_name="A", link="https://x/1"
    )
    art = article(link="https://x/1")
    assert post.id != art.id
    assert {c: document_class(c) for c in declared_categories()} == {
        "articles": ArticleDocument,
        "posts": PostDocument,
        "repositories": RepositoryDocument,
    }
    assert [document_class(c).collection for c in declared_categories()] == ["articles", "posts", "repositories"]


def test_post_without_link_gets_an_id_from_author_and_content():
    p1 = PostDocument(content={"Content": "같은 글"}, platform="linkedin", author_id=AUTHOR, author_full_name="A")
    p2 = PostDocument(content={"Content": "같은 글"}, platform="linkedin", author_id=AUTHOR, author_full_name="A")
    p3 = PostDocument(content={"Content": "다른 글"}, platform="linkedin", author_id=AUTHOR, author_full_name="A")
    assert p1.id == p2.id != p3.id


def test_user_names_are_whole_and_match_any_case_or_spacing():
    korean = UserDocument(full_name="  김철수 ")
    assert korean.full_name == "김철수" and korean.first_name is None
    assert UserDocument(full_name="김철수").id == korean.id
    book = UserDocument(first_name="Maxime", last_name="Labonne")
    assert book.full_name == "Maxime Labonne"
    assert UserDocument(full_name="maxime   LABONNE").id == book.id
    assert name_key("ÉMILE Zola") == name_key("émile zola")
    with pytest.raises(ValidationError):
        UserDocument(full_name="   ")


def test_get_or_create_user_keeps_the_stored_name():
    created = UserDocument.get_or_create_by_name("Jane Writer")
    again = UserDocument.get_or_create_by_name("jane   writer")
    assert again.id == created.id and again.full_name == "Jane Writer"
    assert UserDocument.get_or_create_by_name("이영희").full_name == "이영희"
    assert UserDocument.count() == 2


def test_save_twice_updates_in_place():
    first = article().save()
    second = article(Content="고친 본문").save()
    assert first.id == second.id
    assert ArticleDocument.count() == 1
    assert ArticleDocument.find(link="https://blog.example/p/1").content["Content"] == "고친 본문"


@pytest.mark.parametrize("lookup", ["cleaned", "embedded"])
def test_category_class_lookup_accepts_names_and_rejects_unknown_categories(lookup):
    find, name, collection = (
        (cleaned_class, "CleanedPostDocument", "cleaned_posts")
        if lookup == "cleaned"
        else (embedded_class, "EmbeddedPostChunk", "embedded_posts")
    )
    post_class = find("posts")
    assert find("posts") is post_class
    assert (post_class.__name__, post_class.collection, post_class.model_fields["category"].default) == (
        name,
        collection,
        "posts",
    )
    # Found by its import path, as ZenML artifacts and pickles record it.
    assert getattr(importlib.import_module(post_class.__module__), name) is post_class
    with pytest.raises(ValueError, match=r"category 'videos' \(known: articles, posts, repositories\)"):
        find("videos")
