"""Warehouse documents: the author and what they wrote.

Ids are derived from the source: a user's from the normalised full name, a document's from its
canonical link (a post without a link: from its author and content). Re-crawling a page thus
updates its document instead of adding a second one, and the warehouse's unique indexes on
``link`` / ``full_name`` enforce it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field, model_validator

from llm_engineering.domain.base.nosql import NoSQLBaseDocument
from llm_engineering.domain.identity import canonical_link, content_hash, id_from, name_key, normalise_name
from llm_engineering.domain.types import DataCategory


def _now() -> datetime:
    return datetime.now(UTC)


class UserDocument(NoSQLBaseDocument):
    """An author. ``full_name`` is kept whole: names are not assumed to be "First Last"."""

    full_name: str
    name_key: str = ""
    first_name: str | None = None
    last_name: str | None = None
    created_at: datetime = Field(default_factory=_now)

    collection: ClassVar[str] = "users"
    unique_keys: ClassVar[tuple[str, ...]] = ("name_key",)

    @model_validator(mode="before")
    @classmethod
    def _fill(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if not data.get("full_name"):
            # The book's warehouse stores first_name/last_name only.
            joined = " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p)
            if joined:
                data["full_name"] = joined
        if not data.get("full_name") or not normalise_name(str(data["full_name"])):
            raise ValueError("a user needs a non-empty full_name")
        data["full_name"] = normalise_name(data["full_name"])
        data["name_key"] = name_key(data["full_name"])
        if not data.get("id") and not data.get("_id"):
            data["id"] = id_from("user", data["name_key"])
        return data

    @classmethod
    def get_or_create_by_name(cls, full_name: str) -> UserDocument:
        """The stored author with this name (any case or spacing), created when missing."""
        found = cls.find_by_name(full_name)
        return found if found is not None else cls(full_name=full_name).save()

    @classmethod
    def find_by_name(cls, full_name: str) -> UserDocument | None:
        return cls.find(name_key=name_key(full_name))


class Document(NoSQLBaseDocument):
    """Something an author wrote. ``content`` is a dict (e.g. Title, Subtitle, Content)."""

    content: dict[str, Any]
    platform: str
    author_id: uuid.UUID
    author_full_name: str
    link: str | None = None
    published_at: datetime | None = None
    crawled_at: datetime = Field(default_factory=_now)
    content_hash: str = ""

    category: ClassVar[DataCategory]
    unique_keys: ClassVar[tuple[str, ...]] = ("link",)
    indexed_keys: ClassVar[tuple[str, ...]] = ("author_id",)

    @model_validator(mode="before")
    @classmethod
    def _fill(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("link"):
            data["link"] = canonical_link(str(data["link"]))
        if isinstance(data.get("author_full_name"), str):
            data["author_full_name"] = normalise_name(data["author_full_name"])
        if isinstance(data.get("content"), dict):
            data["content_hash"] = content_hash(data["content"])
        if not data.get("id") and not data.get("_id"):
            if data.get("link"):
                data["id"] = id_from(cls.category.value, data["link"])
            else:
                data["id"] = id_from(cls.category.value, str(data.get("author_id")), data.get("content_hash", ""))
        return data


class ArticleDocument(Document):
    link: str
    collection: ClassVar[str] = "articles"
    category: ClassVar[DataCategory] = DataCategory.ARTICLES


class PostDocument(Document):
    image: str | None = None
    collection: ClassVar[str] = "posts"
    category: ClassVar[DataCategory] = DataCategory.POSTS


class RepositoryDocument(Document):
    name: str
    link: str
    collection: ClassVar[str] = "repositories"
    category: ClassVar[DataCategory] = DataCategory.REPOSITORIES


def document_classes() -> dict[DataCategory, type[Document]]:
    """Every registered document class by its category (a new category is one new class)."""
    from llm_engineering.domain.base.nosql import DOCUMENT_CLASSES

    return {cls.category: cls for cls in DOCUMENT_CLASSES.values() if issubclass(cls, Document)}
