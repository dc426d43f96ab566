"""Cleaned documents: the warehouse's writing, normalised, one point per document (no vector).

They live in the vector store's ``cleaned_<category>`` collections under the id of the
warehouse document they came from. A cleaned document is written *after* its chunks, so its
``content_hash`` and ``features_fingerprint`` say "this document's features are complete and
current": the feature pipeline skips a document whose stored pair matches.

Each category's class is derived from its declaration (``documents.Document``) the first time it
is asked for: ``cleaned_class("articles")`` is ``CleanedArticleDocument`` on ``cleaned_articles``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Any, ClassVar

from pydantic import model_validator

from llm_engineering.domain.base.vector import VectorBaseDocument
from llm_engineering.domain.documents import Document, derived_by_name, derived_class, document_class


class CleanedDocument(VectorBaseDocument):
    document_id: uuid.UUID
    content: str
    title: str = ""
    platform: str
    author_id: uuid.UUID
    author_full_name: str
    link: str | None = None
    published_at: datetime | None = None
    category: str
    content_hash: str
    """The warehouse document's content hash when it was cleaned."""
    features_fingerprint: str = ""
    """Hash of everything else that shaped its chunks (cleaning, chunk sizes, embedding model)."""
    chunk_count: int = 0

    has_vector: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _same_id_as_source(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("id") and data.get("document_id"):
            data = dict(data)
            data["id"] = data["document_id"]
        return data


def cleaned_class(category: str) -> type[CleanedDocument]:
    """The cleaned-document class of a declared category; a clear error for an unknown one."""
    return _derived(document_class(category))


@cache
def _derived(source: type[Document]) -> type[CleanedDocument]:
    return derived_class(CleanedDocument, source, "Cleaned{}Document", "cleaned_")


def __getattr__(name: str) -> type[CleanedDocument]:
    return derived_by_name(cleaned_class, name, __name__)
