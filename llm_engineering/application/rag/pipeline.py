"""Answering a question: retrieve context, build the prompt, generate.

``TwinRAG.prepare`` does everything before generation; ``TwinRAG.respond`` / ``respond_stream``
write the answer in the configured answer mode (``application.rag.answer``: generated and tidied,
or quoted from the passages); ``TwinRAG.answer`` does it all and returns the answer with its sources.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from loguru import logger

from llm_engineering.application.rag.answer import (
    QuotedStream,
    ReadableStream,
    quoted_answer,
    resolve_mode,
    tidy,
    token_counter,
    trim_history,
)
from llm_engineering.application.rag.prompt import build_rag_messages
from llm_engineering.application.rag.retriever import ContextRetriever, Retrieval
from llm_engineering.infrastructure.llm import ChatResult, LLMClient, get_twin_llm
from llm_engineering.infrastructure.llm.openai_backend import OpenAICompatibleLLM
from llm_engineering.model.chat import Message
from llm_engineering.settings import get_settings


@dataclass
class PreparedPrompt:
    messages: list[Message]
    retrieval: Retrieval | None
    timings_ms: dict[str, float] = field(default_factory=dict)
    query: str = ""
    left_out: dict[str, int] = field(default_factory=dict)  # history turns and passages cut to fit

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
    def __init__(
        self,
        llm: LLMClient | None = None,
        retriever: ContextRetriever | None = None,
        answer_mode: str | None = None,
        history_chars: int | None = None,
    ) -> None:
        """``answer_mode`` and ``history_chars`` default to ``RAG_ANSWER_MODE`` / ``RAG_HISTORY_CHARS``."""
        self._llm = llm
        self._retriever = retriever
        self._mode = answer_mode or get_settings().RAG_ANSWER_MODE
        resolve_mode(self._mode, remote=False)  # an unknown mode fails here, not at the first question
        self.history_chars = get_settings().RAG_HISTORY_CHARS if history_chars is None else history_chars

    @property
    def answer_mode(self) -> str:
        """``generate`` or ``extractive``; ``auto``: generate only with an OpenAI-compatible server."""
        return resolve_mode(self._mode, remote=isinstance(self.llm, OpenAICompatibleLLM))

    @property
    def llm(self) -> LLMClient:
        if self._llm is None:
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
        max_prompt_tokens: int | None = None,
    ) -> PreparedPrompt:
        """Retrieval and the prompt. ``max_prompt_tokens``: when the model will read the prompt and
        can count it, the oldest turns of the history and then the lowest-ranked passages are left
        out until it fits (Korean passages take about two tokens a character). The question is
        never cut, and one passage always stays: a prompt that still does not fit is for the
        caller to refuse. ``left_out`` says what was dropped; the sources are the passages kept."""
        history = trim_history(history, self.history_chars)
        retrieval, timings = None, {}
        if use_rag:
            retrieval = self.retriever.retrieve(query, k=k, author=author)
            timings = {f"retrieval_{key}": value for key, value in retrieval.timings_ms.items()}
        left_out: dict[str, int] = {}
        if max_prompt_tokens is not None and not self.quotes(retrieval):
            history, retrieval, left_out = self._fit(query, history, retrieval, max_prompt_tokens)
        return PreparedPrompt(
            messages=self._messages(query, history, retrieval),
            retrieval=retrieval,
            timings_ms=timings,
            query=query,
            left_out=left_out,
        )

    @staticmethod
    def _messages(query: str, history: Sequence[Message], retrieval: Retrieval | None) -> list[Message]:
        if retrieval is None:
            return [*history, {"role": "user", "content": query}]
        return build_rag_messages(query, retrieval.chunks, retrieval.query.author_full_name, history)

    def _fit(
        self, query: str, history: list[Message], retrieval: Retrieval | None, budget: int
    ) -> tuple[list[Message], Retrieval | None, dict[str, int]]:
        count = getattr(self.llm, "prompt_tokens", None)
        if count is None:  # a server counts for itself
            return history, retrieval, {}
        turns = passages = 0
        while count(self._messages(query, history, retrieval)) > budget:
            if history:
                history = trim_history(history[1:], self.history_chars)  # the oldest question and its answer
                turns += 1
            elif retrieval is not None and len(retrieval.chunks) > 1:
                retrieval = replace(retrieval, chunks=retrieval.chunks[:-1])
                passages += 1
            else:
                break
        left_out = {name: n for name, n in (("history_turns", turns), ("passages", passages)) if n}
        if left_out:
            logger.debug(f"prompt fitted to {budget} tokens by leaving out {left_out}")
        return history, retrieval, left_out

    def quotes(self, retrieval: Retrieval | None) -> bool:
        """True when the answer is quoted from the retrieved passages: no model reads the prompt."""
        return retrieval is not None and self.answer_mode == "extractive"

    def _quoted(self, prepared: PreparedPrompt, max_tokens: int | None) -> ChatResult:
        return quoted_answer(prepared.query, prepared.retrieval.chunks, token_counter(self.llm), max_tokens)

    def respond(self, prepared: PreparedPrompt, **options) -> ChatResult:
        """The answer to a prepared prompt in the answer mode (``options``: ``LLMClient.chat``'s)."""
        if self.quotes(prepared.retrieval):
            return self._quoted(prepared, options.get("max_tokens"))
        result = self.llm.chat(prepared.messages, **options)
        return replace(result, text=tidy(result.text, cut_short=result.finish_reason == "length"))

    def respond_stream(self, prepared: PreparedPrompt, **options) -> ReadableStream:
        """Pieces of the answer as they come; once exhausted, ``.final()`` is the tidy answer."""
        if self.quotes(prepared.retrieval):
            return QuotedStream(self._quoted(prepared, options.get("max_tokens")))
        return ReadableStream(self.llm.stream(prepared.messages, **options))

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
        result = self.respond(prepared, max_tokens=max_tokens, temperature=temperature)
        timings = dict(prepared.timings_ms)
        timings["generation"] = round((time.perf_counter() - t) * 1000, 3)
        timings["total"] = round((time.perf_counter() - started) * 1000, 3)
        return RAGAnswer(result.text, prepared.sources(), prepared, result, timings)
