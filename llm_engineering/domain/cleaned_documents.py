"""Cleaned documents: the warehouse's writing, normalised, one point per document (no vector).

They live in the vector store's ``cleaned_<category>`` collections under the id of the
warehouse document they came from. A cleaned document is written *after* its chunks, so its
``content_hash`` and ``features_fingerprint`` say "this document's features are complete and
current": the feature pipeline skips a document whose stored pair matches.

A new category is one subclass here with its ``category`` default and ``collection``; it
registers itself in ``CLEANED_CLASSES``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import model_validator

from llm_engineering.domain.base.vector import VectorBaseDocument
from llm_engineering.domain.types import DataCategory, class_for_category

CLEANED_CLASSES: dict[DataCategory, type[CleanedDocument]] = {}


class CleanedDocument(VectorBaseDocument):
    document_id: uuid.UUID
    content: str
    title: str = ""
    platform: str
    author_id: uuid.UUID
    author_full_name: str
    link: str | None = None
    published_at: datetime | None = None
    category: DataCategory
    content_hash: str
    """The warehouse document's content hash when it was cleaned."""
    features_fingerprint: str = ""
    """Hash of everything else that shaped its chunks (cleaning, chunk sizes, embedding model)."""
    chunk_count: int = 0

    has_vector: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        default = cls.model_fields["category"].default
        if cls.__dict__.get("collection") and isinstance(default, DataCategory):
            CLEANED_CLASSES[default] = cls

    @model_validator(mode="before")
    @classmethod
    def _same_id_as_source(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("id") and data.get("document_id"):
            data = dict(data)
            data["id"] = data["document_id"]
        return data


class CleanedArticleDocument(CleanedDocument):
    category: DataCategory = DataCategory.ARTICLES
    collection: ClassVar[str] = "cleaned_articles"


class CleanedPostDocument(CleanedDocument):
    category: DataCategory = DataCategory.POSTS
    collection: ClassVar[str] = "cleaned_posts"


class CleanedRepositoryDocument(CleanedDocument):
    category: DataCategory = DataCategory.REPOSITORIES
    collection: ClassVar[str] = "cleaned_repositories"


def cleaned_class(category: DataCategory | str) -> type[CleanedDocument]:
    """The cleaned-document class of a category; a clear error for an unknown one."""
    return class_for_category(CLEANED_CLASSES, category, "cleaned-document")
