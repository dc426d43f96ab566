"""Warehouse documents: the author and what they wrote.

Ids are derived from the source: a user's from the normalised full name, a document's from its
canonical link (a post without a link: from its author and content). Re-crawling a page thus
updates its document instead of adding a second one, and the warehouse's unique indexes on
``link`` / ``full_name`` enforce it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, Field, model_validator

from llm_engineering.domain.base.nosql import NoSQLBaseDocument
from llm_engineering.domain.identity import canonical_link, content_hash, id_from, name_key, normalise_name

M = TypeVar("M", bound=BaseModel)
H = TypeVar("H")

DOCUMENT_CATEGORIES: dict[str, type[Document]] = {}
"""Every declared data category's warehouse document class, by category name, in declaration order."""


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
    """Something an author wrote. ``content`` is a dict (e.g. Title, Subtitle, Content).

    A subclass that sets ``category`` declares a data category, and is all a new category needs.
    The category's name is also its warehouse collection and the ``category`` of its cleaned
    documents and chunks; the class name names its file in a warehouse export; ``cleaning`` and
    ``chunking`` name the feature pipeline's handlers for it (``application/preprocessing``); its
    cleaned-document and embedded-chunk classes (``cleaned_<name>``, ``embedded_<name>``
    collections) are derived from it; and every stage that processes "every category" (features,
    dataset generation, retrieval) reads ``declared_categories()``.
    """

    content: dict[str, Any]
    platform: str
    author_id: uuid.UUID
    author_full_name: str
    link: str | None = None
    published_at: datetime | None = None
    crawled_at: datetime = Field(default_factory=_now)
    content_hash: str = ""

    category: ClassVar[str]
    cleaning: ClassVar[str] = "text"
    chunking: ClassVar[str] = "text"
    unique_keys: ClassVar[tuple[str, ...]] = ("link",)
    indexed_keys: ClassVar[tuple[str, ...]] = ("author_id",)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        declares = "category" in cls.__dict__
        if declares:
            if cls.category in DOCUMENT_CATEGORIES:
                raise TypeError(f"category {cls.category!r} is declared twice ({cls.__name__})")
            cls.collection = cls.category
        super().__pydantic_init_subclass__(**kwargs)
        if declares:
            DOCUMENT_CATEGORIES[cls.category] = cls

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
                data["id"] = id_from(cls.category, data["link"])
            else:
                data["id"] = id_from(cls.category, str(data.get("author_id")), data.get("content_hash", ""))
        return data


class ArticleDocument(Document):
    link: str
    category: ClassVar[str] = "articles"


class PostDocument(Document):
    image: str | None = None
    category: ClassVar[str] = "posts"


class RepositoryDocument(Document):
    """A repository's ``content`` maps file paths to file text (cleaned as code files)."""

    name: str
    link: str
    category: ClassVar[str] = "repositories"
    cleaning: ClassVar[str] = "code"


def declared_categories() -> list[str]:
    """The names of every declared data category."""
    return list(DOCUMENT_CATEGORIES)


def document_class(category: str) -> type[Document]:
    """The warehouse document class of a category; a ValueError naming the declared ones otherwise."""
    try:
        return DOCUMENT_CATEGORIES[str(category)]
    except KeyError:
        known = ", ".join(sorted(DOCUMENT_CATEGORIES))
        raise ValueError(f"unknown data category {category!r} (known: {known})") from None


def declared_handler(handlers: dict[str, H], category: str, kind: str) -> H:
    """The handler a category's declaration names for ``kind`` (``cleaning`` or ``chunking``);
    a ValueError for an unknown category or handler name."""
    name = getattr(document_class(category), kind)
    if name not in handlers:
        raise ValueError(f"category {category!r} names {kind} {name!r}; known: {', '.join(sorted(handlers))}")
    return handlers[name]


def derived_class(base: type[M], source: type[Document], name: str, prefix: str) -> type[M]:
    """The subclass of ``base`` that holds ``source``'s category in the vector store: named
    ``name`` with the class's stem filled in (``Article`` of ``ArticleDocument``), on the collection
    ``prefix + category``, its ``category`` field defaulting to the category's name."""
    namespace = {
        "__module__": base.__module__,
        "__annotations__": {"category": str, "collection": ClassVar[str]},
        "category": source.category,
        "collection": prefix + source.category,
    }
    return type(name.format(source.__name__.removesuffix("Document")), (base,), namespace)


def derived_by_name(derive: Callable[[str], type[M]], name: str, module: str) -> type[M]:
    """The class ``derive`` makes for a declared category, found by its class name: a module's
    ``__getattr__``, so that a derived class resolves from its import path as ZenML artifacts and
    pickles record it (``llm_engineering.domain.cleaned_documents.CleanedArticleDocument``)."""
    for category in DOCUMENT_CATEGORIES:
        if (cls := derive(category)).__name__ == name:
            return cls
    raise AttributeError(f"module {module!r} has no attribute {name!r}")
