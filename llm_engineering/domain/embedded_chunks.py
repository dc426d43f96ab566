"""Embedded chunks: pieces of a cleaned document with their vectors, in ``embedded_<category>``.

A chunk's id is derived from its document id, its position and the hash of its text, so
re-embedding an unchanged document rewrites the same points and a changed one gets new ids
for the chunks that changed. ``start``/``end`` are character offsets of the chunk in the
cleaned document's ``content`` (chunks may overlap).

The sparse lexical vector a chunk is stored with is computed above the domain (the term weights
depend on the application's tokenizer) and handed to the chunk in ``sparse``; a chunk read back
from the store has none.

Each category's class is derived from its declaration (``documents.Document``) the first time it
is asked for: ``embedded_class("articles")`` is ``EmbeddedArticleChunk`` on ``embedded_articles``.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from functools import cache
from typing import Any, ClassVar

from pydantic import Field, model_validator

from llm_engineering.domain.base.vector import VectorBaseDocument
from llm_engineering.domain.documents import Document, derived_by_name, derived_class, document_class
from llm_engineering.domain.identity import id_from


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
    category: str
    content_hash: str = ""
    """The source document's content hash these chunks were made from."""
    sparse: tuple[list[int], list[float]] | None = Field(default=None, exclude=True, repr=False)
    """(indices, values) of the lexical vector to store with the chunk; None: dense search only.
    Not part of the payload."""

    has_vector: ClassVar[bool] = True
    indexed_payload: ClassVar[tuple[str, ...]] = ("document_id", "author_id", "category")

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
        return self.sparse


def embedded_class(category: str) -> type[EmbeddedChunk]:
    """The embedded-chunk class of a declared category; a clear error for an unknown one."""
    return _derived(document_class(category))


@cache
def _derived(source: type[Document]) -> type[EmbeddedChunk]:
    return derived_class(EmbeddedChunk, source, "Embedded{}Chunk", "embedded_")


def __getattr__(name: str) -> type[EmbeddedChunk]:
    return derived_by_name(embedded_class, name, __name__)
