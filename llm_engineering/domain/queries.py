"""What a question becomes on its way through retrieval, and the trace a served answer leaves.

``Query`` is the question with the filters self-query found; ``RetrievedChunk`` is one piece of
context with its scores and source; ``PromptTrace`` is stored in the warehouse for every request
the service answers (prompt monitoring) and read back by ``GET /v1/traces``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from llm_engineering.domain.base.nosql import NoSQLBaseDocument


class Query(BaseModel):
    text: str
    author_id: uuid.UUID | None = None
    author_full_name: str | None = None
    filters: dict[str, Any] = Field(default_factory=dict)

    def search_filters(self) -> dict[str, Any]:
        filters = dict(self.filters)
        if self.author_id is not None:
            filters["author_id"] = str(self.author_id)
        return filters


class RetrievedChunk(BaseModel):
    """A chunk of context with where it came from and how it ranked."""

    chunk_id: uuid.UUID
    document_id: uuid.UUID
    content: str
    title: str = ""
    link: str | None = None
    author_id: uuid.UUID
    author_full_name: str
    platform: str
    category: str
    chunk_index: int = 0
    score: float = 0.0
    dense_score: float | None = None
    lexical_score: float | None = None
    rerank_score: float | None = None

    def source(self) -> dict[str, Any]:
        """The citation shown to users (no chunk text)."""
        return {
            "document_id": str(self.document_id),
            "chunk_id": str(self.chunk_id),
            "title": self.title,
            "link": self.link,
            "author": self.author_full_name,
            "platform": self.platform,
            "category": self.category,
            "score": round(self.score, 6),
        }


class PromptTrace(NoSQLBaseDocument):
    """One served request: what was asked, found, rendered and answered, and how long each took."""

    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    endpoint: str
    model_id: str = ""
    backend: str = ""  # the engine that generated the answer
    query: str
    detected_author: str | None = None
    author_id: uuid.UUID | None = None
    chunks: list[dict[str, Any]] = Field(default_factory=list)
    prompt: str = ""
    answer: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    latency_ms: dict[str, float] = Field(default_factory=dict)
    status: str = "ok"
    error: str | None = None

    collection: ClassVar[str] = "prompt_traces"
    indexed_keys: ClassVar[tuple[str, ...]] = ("created_at",)
