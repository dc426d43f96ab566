"""Request and response bodies of the inference service (OpenAI-compatible where it matters)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_STOP_SEQUENCES = 4
MAX_STOP_CHARS = 32


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat request; ``rag``, ``k`` and ``author`` are this service's extensions."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    rag: bool | None = None
    k: int | None = Field(None, ge=1, le=50)
    author: str | None = Field(None, max_length=200)

    @field_validator("stop")
    @classmethod
    def _stops(cls, value):
        # Each stop string costs the in-process model memory in proportion to its length.
        if isinstance(value, str):
            value = [value]
        if value is not None and len(value) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences")
        longest = max((len(v) for v in value or ()), default=0)
        if longest > MAX_STOP_CHARS:
            raise ValueError(f"each stop sequence may be at most {MAX_STOP_CHARS} characters (one has {longest})")
        return value

    @field_validator("messages")
    @classmethod
    def _last_is_user(cls, value: list[ChatMessage]):
        if value[-1].role != "user" or not value[-1].content.strip():
            raise ValueError("the last message must be a non-empty user message")
        return value


class RAGRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1)
    k: int | None = Field(None, ge=1, le=50)
    author: str | None = Field(None, max_length=200)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the query is empty")
        return value


class RAGResponse(BaseModel):
    answer: str
    sources: list[dict[str, Any]]
    author: str | None
    model: str
    usage: dict[str, int]
    finish_reason: str
    latency_ms: dict[str, float]
    trace_id: str | None = None
