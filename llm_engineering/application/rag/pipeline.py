"""Answering a question: retrieve context, build the prompt, generate.

``TwinRAG.prepare`` does everything before generation (so the service can stream the
generation itself); ``TwinRAG.answer`` does it all and returns the answer with its sources.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llm_engineering.application.rag.prompt import build_rag_messages
from llm_engineering.application.rag.retriever import ContextRetriever, Retrieval
from llm_engineering.infrastructure.llm import ChatResult, LLMClient
from llm_engineering.model.chat import Message


@dataclass
class PreparedPrompt:
    messages: list[Message]
    retrieval: Retrieval | None
    timings_ms: dict[str, float] = field(default_factory=dict)

    def sources(self) -> list[dict[str, Any]]:
        return [c.source() for c in self.retrieval.chunks] if self.retrieval else []


@dataclass
class RAGAnswer:
    answer: str
    sources: list[dict[str, Any]]
    prepared: PreparedPrompt
    result: ChatResult
    timings_ms: dict[str, float]


class TwinRAG:
    def __init__(self, llm: LLMClient | None = None, retriever: ContextRetriever | None = None) -> None:
        self._llm = llm
        self._retriever = retriever

    @property
    def llm(self) -> LLMClient:
        if self._llm is None:
            from llm_engineering.infrastructure.llm import get_twin_llm

            self._llm = get_twin_llm()
        return self._llm

    @property
    def retriever(self) -> ContextRetriever:
        if self._retriever is None:
            self._retriever = ContextRetriever()
        return self._retriever

    def prepare(
        self,
        query: str,
        k: int | None = None,
        author: str | None = None,
        history: Sequence[Message] = (),
        use_rag: bool = True,
    ) -> PreparedPrompt:
        if not use_rag:
            messages = [*history, {"role": "user", "content": query}]
            return PreparedPrompt(messages=list(messages), retrieval=None)
        retrieval = self.retriever.retrieve(query, k=k, author=author)
        messages = build_rag_messages(query, retrieval.chunks, retrieval.query.author_full_name, history)
        timings = {f"retrieval_{key}": value for key, value in retrieval.timings_ms.items()}
        return PreparedPrompt(messages=messages, retrieval=retrieval, timings_ms=timings)

    def answer(
        self,
        query: str,
        k: int | None = None,
        author: str | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
    ) -> RAGAnswer:
        started = time.perf_counter()
        prepared = self.prepare(query, k=k, author=author)
        t = time.perf_counter()
        result = self.llm.chat(prepared.messages, max_tokens=max_tokens, temperature=temperature)
        timings = dict(prepared.timings_ms)
        timings["generation"] = round((time.perf_counter() - t) * 1000, 3)
        timings["total"] = round((time.perf_counter() - started) * 1000, 3)
        return RAGAnswer(result.text, prepared.sources(), prepared, result, timings)
