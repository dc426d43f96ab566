"""Embedded chunks: pieces of a cleaned document with their vectors, in ``embedded_<category>``.

A chunk's id is derived from its document id, its position and the hash of its text, so
re-embedding an unchanged document rewrites the same points and a changed one gets new ids
for the chunks that changed. ``start``/``end`` are character offsets of the chunk in the
cleaned document's ``content`` (chunks may overlap).

A new category is one subclass here with its ``category`` default and ``collection``; it
registers itself in ``EMBEDDED_CLASSES``.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import model_validator

from llm_engineering.domain.base.vector import VectorBaseDocument
from llm_engineering.domain.identity import id_from
from llm_engineering.domain.types import DataCategory, class_for_category

EMBEDDED_CLASSES: dict[DataCategory, type[EmbeddedChunk]] = {}


def text_hash(text: str) -> str:
    """SHA-256 of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chunk_id(document_id: uuid.UUID | str, chunk_index: int, chunk_hash: str) -> uuid.UUID:
    """The deterministic point id of a chunk."""
    return id_from("chunk", str(document_id), str(chunk_index), chunk_hash)


class EmbeddedChunk(VectorBaseDocument):
    content: str
    embedding: list[float] | None = None
    """None when read without vectors (e.g. search results asked for payload only)."""
    document_id: uuid.UUID
    chunk_index: int
    chunk_hash: str = ""
    start: int = 0
    end: int = 0
    token_count: int = 0
    passage_index: int | None = None
    """The passage (retrieval unit returned as context) this chunk belongs to; None: the chunk itself."""
    passage: str | None = None
    """That passage's text (every chunk of a passage carries it)."""
    passage_id: uuid.UUID | None = None
    """The id of the passage's first chunk, the one that carries the passage's lexical vector."""
    title: str = ""
    platform: str
    author_id: uuid.UUID
    author_full_name: str
    link: str | None = None
    published_at: datetime | None = None
    category: DataCategory
    content_hash: str = ""
    """The source document's content hash these chunks were made from."""

    has_vector: ClassVar[bool] = True
    indexed_payload: ClassVar[tuple[str, ...]] = ("document_id", "author_id", "category")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        default = cls.model_fields["category"].default
        if cls.__dict__.get("collection") and isinstance(default, DataCategory):
            EMBEDDED_CLASSES[default] = cls

    @model_validator(mode="before")
    @classmethod
    def _derive_id(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if not data.get("chunk_hash") and isinstance(data.get("content"), str):
            data["chunk_hash"] = text_hash(data["content"])
        if not data.get("id") and data.get("document_id") is not None and data.get("chunk_index") is not None:
            data["id"] = chunk_id(data["document_id"], int(data["chunk_index"]), data["chunk_hash"])
        return data

    @property
    def chunk_id(self) -> uuid.UUID:
        return self.id

    def sparse_vector(self) -> tuple[list[int], list[float]] | None:
        """BM25 term weights of the chunk's retrieval unit (``application/rag/lexical.py``), on
        the first chunk of a passage (or a chunk stored without one) only."""
        from llm_engineering.application.rag.lexical import document_vector

        if self.passage_index is not None and self.passage is not None:
            if self.passage_id is not None and self.passage_id != self.id:
                return None
            return document_vector(self.title, self.passage)
        return document_vector(self.title, self.content)


class EmbeddedArticleChunk(EmbeddedChunk):
    category: DataCategory = DataCategory.ARTICLES
    collection: ClassVar[str] = "embedded_articles"


class EmbeddedPostChunk(EmbeddedChunk):
    category: DataCategory = DataCategory.POSTS
    collection: ClassVar[str] = "embedded_posts"


class EmbeddedRepositoryChunk(EmbeddedChunk):
    category: DataCategory = DataCategory.REPOSITORIES
    collection: ClassVar[str] = "embedded_repositories"


def embedded_class(category: DataCategory | str) -> type[EmbeddedChunk]:
    """The embedded-chunk class of a category; a clear error for an unknown one."""
    return class_for_category(EMBEDDED_CLASSES, category, "embedded-chunk")
