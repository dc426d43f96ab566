"""What ``/rag`` and ``/v1/chat/completions`` share: the answer length a request may ask, the prompt
prepared and checked against the model's context, generation through the queue, and the parts of a
reply (sources, usage)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from llm_engineering.application.crawlers.base import public_link
from llm_engineering.application.rag.answer import unique_sources
from llm_engineering.application.rag.authors import UnknownAuthorError
from llm_engineering.application.rag.pipeline import PreparedPrompt
from llm_engineering.domain.documents import UserDocument
from llm_engineering.entrypoints.api.dependencies import Services
from llm_engineering.entrypoints.api.errors import APIError, ClientGone
from llm_engineering.entrypoints.api.tracing import record
from llm_engineering.infrastructure.llm import ChatResult


@dataclass(frozen=True)
class ChatTurn:
    """A chat completion request as the service answers it: the last message is the query, the ones
    before it the history; limits applied and defaults filled in."""

    query: str
    history: list[dict[str, Any]]
    use_rag: bool
    k: int | None
    author: str | None
    max_tokens: int
    options: dict[str, Any]  # what generation is given: max_tokens, temperature, top_p, stop
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))
    started: float = field(default_factory=time.perf_counter)

    def prepare(self, s: Services) -> PreparedPrompt:
        return prepare(s, self.query, self.k, self.author, self.use_rag, self.history, self.max_tokens)


def max_tokens_for(settings, requested: int | None) -> int:
    if requested is None:
        return min(settings.SERVICE_DEFAULT_MAX_TOKENS, settings.SERVICE_MAX_TOKENS_LIMIT)
    if requested > settings.SERVICE_MAX_TOKENS_LIMIT:
        raise APIError(
            422,
            f"max_tokens may be at most {settings.SERVICE_MAX_TOKENS_LIMIT}",
            param="max_tokens",
            code="max_tokens_too_large",
        )
    return requested


def prepare(s: Services, query: str, k, author, use_rag: bool, history=(), max_tokens: int = 0) -> PreparedPrompt:
    """The prompt, its older turns and lowest-ranked passages left out where the model's context
    needs it; a prompt whose question alone does not fit is refused (400)."""
    window = getattr(s.llm, "context_window", None)
    s.context_tokens = window or None  # known once the model is loaded
    budget = window - max_tokens if window else None
    try:
        prepared = s.rag.prepare(query, k=k, author=author, history=history, use_rag=use_rag, max_prompt_tokens=budget)
    except UnknownAuthorError:
        raise APIError(422, _unknown_author(author or ""), param="author", code="unknown_author") from None
    if not s.rag.quotes(prepared.retrieval):
        _check_context(s, prepared.messages, max_tokens)
    return prepared


def _unknown_author(name: str, shown: int = 8) -> str:
    """One line: the name not found and the authors there are."""
    names = sorted(u.full_name for u in UserDocument.bulk_find())
    known = ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
    return f"no author named {name.strip()!r}; " + (f"the authors are {known}" if names else "no author is loaded yet")


def _check_context(s: Services, messages, max_tokens: int) -> None:
    """Refuse a prompt that, after the chat template, leaves less than ``max_tokens`` of the model's
    context (backends that cannot tell, e.g. a remote server, judge it themselves)."""
    window = s.context_tokens
    count = getattr(s.llm, "prompt_tokens", None)
    if not window or count is None:
        return
    tokens = count(messages)
    if tokens + max_tokens > window:
        raise APIError(
            400,
            f"the prompt is {tokens} tokens after the chat template; the model's context is {window} tokens, "
            f"so with max_tokens={max_tokens} it may be at most {window - max_tokens} tokens",
            param="messages",
            code="context_length_exceeded",
        )


async def generate(s: Services, endpoint: str, query: str, work: Callable, request: Request, cancel: threading.Event):
    """``work`` through the queue; a request whose client left before it started leaves a
    "cancelled" trace."""
    try:
        return await s.queue.run(work, request=request, cancel=cancel)
    except ClientGone:
        await record(s, endpoint, query, None, None, {}, cancelled=True)
        raise


def public_sources(prepared: PreparedPrompt) -> list[dict[str, Any]]:
    """One source per document (its best-ranked passage's), in retrieval order: the numbers an
    answer cites (``[1]``) are positions in this list."""
    return [{**source, "link": public_link(source.get("link"))} for source in unique_sources(prepared.sources())]


def usage(result: ChatResult) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }


def ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)
