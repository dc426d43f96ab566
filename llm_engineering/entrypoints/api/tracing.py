"""The trace each answered request leaves (``PromptTrace``: query, retrieved chunks, rendered
prompt, answer, tokens, latency, status), as stored and as ``GET /v1/traces`` shows it."""

from __future__ import annotations

import asyncio
from typing import Any

from llm_engineering.application.crawlers.base import public_link, public_text
from llm_engineering.application.rag.pipeline import PreparedPrompt
from llm_engineering.domain.queries import PromptTrace
from llm_engineering.entrypoints.api.dependencies import Services, safe_backend, safe_model
from llm_engineering.infrastructure.llm import ChatResult, LLMError


def build_trace(
    s: Services,
    endpoint: str,
    query: str,
    prepared: PreparedPrompt | None,
    result: ChatResult | None,
    latency: dict[str, float],
    error: str | None = None,
    cancelled: bool = False,
) -> PromptTrace:
    retrieval = prepared.retrieval if prepared else None
    prompt = _rendered_prompt(s, prepared)
    return PromptTrace(
        endpoint=endpoint,
        model_id=safe_model(s) or "",
        backend=safe_backend(s) or "",
        query=query,
        detected_author=retrieval.query.author_full_name if retrieval else None,
        author_id=retrieval.query.author_id if retrieval else None,
        chunks=[
            {
                "chunk_id": str(c.chunk_id),
                "document_id": str(c.document_id),
                "link": c.link,
                "score": c.score,
                "dense_score": c.dense_score,
                "lexical_score": c.lexical_score,
            }
            for c in (retrieval.chunks if retrieval else [])
        ],
        prompt=prompt,
        answer=result.text if result else "",
        prompt_tokens=result.prompt_tokens if result else 0,
        completion_tokens=result.completion_tokens if result else 0,
        finish_reason=result.finish_reason if result else None,
        latency_ms=latency,
        status="error" if error else "cancelled" if cancelled else "ok",
        error=error,
    )


def _rendered_prompt(s: Services, prepared: PreparedPrompt | None) -> str:
    if prepared is None:
        return ""
    try:
        return s.llm.render_prompt(prepared.messages)
    except (LLMError, ValueError) as exc:
        return f"(not rendered: {type(exc).__name__})"


def store_trace(s: Services, trace: PromptTrace) -> str | None:
    """Count the trace in the metrics and store it; its id, or ``None`` when not stored."""
    s.metrics.observe_trace(trace)
    return s.traces.record(trace)


async def record(s: Services, endpoint, query, prepared, result, latency, cancelled: bool = False) -> str | None:
    """Build and store a request's trace off the event loop."""

    def work():
        return store_trace(s, build_trace(s, endpoint, query, prepared, result, latency, cancelled=cancelled))

    return await asyncio.get_running_loop().run_in_executor(None, work)


def public_trace(trace: dict[str, Any]) -> dict[str, Any]:
    """A stored trace as API clients see it: local files named, never located on the server's disk."""
    chunks = [{**c, "link": public_link(c.get("link"))} for c in trace.get("chunks") or []]
    return {**trace, "chunks": chunks, "prompt": public_text(trace.get("prompt") or "")}
