"""What every request shares: the settings, the RAG pipeline and its LLM (one instance for the whole
service), the generation queue, metrics and the trace recorder; routes reach them through
``get_services``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from loguru import logger

from llm_engineering.application.rag.pipeline import TwinRAG
from llm_engineering.entrypoints.api.generation_queue import GenerationQueue
from llm_engineering.entrypoints.api.model_card import describe
from llm_engineering.entrypoints.api.monitoring import Metrics, TraceRecorder
from llm_engineering.infrastructure.llm import LLMClient, LLMError


@dataclass
class Services:
    settings: Any
    rag: TwinRAG
    queue: GenerationQueue
    metrics: Metrics
    traces: TraceRecorder
    rag_by_default: bool = True
    card: dict[str, Any] | None = None  # the served model as /v1/models names it (model_card.describe)
    context_tokens: int | None = None  # the model's context, once it is loaded

    @property
    def llm(self) -> LLMClient:
        return self.rag.llm

    def model_card(self) -> dict[str, Any]:
        """The served model's card, read once (a newer registry version does not replace the model
        this process loaded)."""
        if self.card is None:
            self.card = describe(self.llm)
        return self.card


def build_services(settings, llm: LLMClient | None, rag: TwinRAG | None, rag_by_default: bool) -> Services:
    """``rag`` defaults to a ``TwinRAG`` over the stores answering with ``llm`` (``get_twin_llm()``
    when ``None``). A local model generates one answer at a time; a remote server
    ``LLM_MAX_CONCURRENCY``."""
    metrics = Metrics()
    rag = rag or TwinRAG(llm=llm, answer_mode=settings.RAG_ANSWER_MODE, history_chars=settings.RAG_HISTORY_CHARS)
    workers = 1 if not settings.LLM_BASE_URL else settings.LLM_MAX_CONCURRENCY
    return Services(
        settings=settings,
        rag=rag,
        queue=GenerationQueue(settings.SERVICE_MAX_QUEUE, workers, metrics),
        metrics=metrics,
        traces=TraceRecorder(
            settings.SERVICE_TRACES, settings.OPIK_API_KEY, settings.OPIK_WORKSPACE, settings.OPIK_PROJECT_NAME
        ),
        rag_by_default=rag_by_default,
    )


def get_services(request: Request) -> Services:
    return request.app.state.services


def safe_card(s: Services) -> dict[str, Any] | None:
    try:
        return s.model_card()
    except LLMError:  # a remote server that cannot be reached
        return None


def safe_model(s: Services) -> str | None:
    card = safe_card(s)
    return card["id"] if card else None


def safe_backend(s: Services) -> str | None:
    """What generates the answers (e.g. ``onnxruntime-genai (int8)``, ``transformers``)."""
    try:
        return s.llm.backend
    except LLMError:
        return None


def limits(s: Services) -> dict[str, int | None]:
    """What a request may ask, as the chat page enforces it: ``max_tokens`` at most, the default
    when a request gives none, the conversation kept (characters), the model's context (tokens;
    ``None`` until the model is loaded, or when a remote server decides)."""
    limit = s.settings.SERVICE_MAX_TOKENS_LIMIT
    return {
        "max_tokens": limit,
        "default_max_tokens": min(s.settings.SERVICE_DEFAULT_MAX_TOKENS, limit),
        "history_chars": s.rag.history_chars,
        "context_tokens": s.context_tokens,
    }


def warm_up(s: Services) -> None:
    """Load the model, its card and the retriever's stores before the first request."""
    started = time.perf_counter()
    s.llm.render_prompt([{"role": "user", "content": "warm-up"}])
    s.context_tokens = getattr(s.llm, "context_window", None)
    safe_card(s)
    try:
        s.rag.retriever.search("warm-up", k=1)
    except ValueError:
        pass
    logger.info(f"service warmed up in {time.perf_counter() - started:.1f}s")
