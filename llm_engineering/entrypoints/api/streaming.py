"""Streamed chat completions: server-sent events in OpenAI's format (``data: {...}`` chunks, then
``data: [DONE]``). The first chunk carries the sources and the author, the last the finish reason
and the final text (``answer``), then the usage when asked for. The queue place is taken before the
200 is sent and given back once the generation has ended; a client that leaves ends its
generation at the next token."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.responses import StreamingResponse
from loguru import logger

from llm_engineering.application.rag.pipeline import PreparedPrompt
from llm_engineering.entrypoints.api.dependencies import Services
from llm_engineering.entrypoints.api.errors import APIError, error_body
from llm_engineering.entrypoints.api.generation import ChatTurn, ms, public_sources, usage
from llm_engineering.entrypoints.api.generation_queue import QueueSlot
from llm_engineering.entrypoints.api.tracing import build_trace, store_trace
from llm_engineering.infrastructure.llm import ChatResult, LLMError
from llm_engineering.infrastructure.llm.base import cancel_on

ENDPOINT = "/v1/chat/completions"


async def stream_answer(s: Services, turn: ChatTurn, include_usage: bool) -> StreamingResponse:
    """Take a queue place now (503 when full) and prepare the prompt (400 when it is too long for
    the model) before the 200 of the event stream is sent."""
    s.queue.acquire()
    slot = QueueSlot(s.queue)
    try:
        prepared = await asyncio.get_running_loop().run_in_executor(s.queue.executor, turn.prepare, s)
    except BaseException:
        slot.release()
        raise
    return _SlotStreamingResponse(
        _stream_events(s, slot, prepared, turn, include_usage),
        slot=slot,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream_events(
    s: Services, slot: QueueSlot, prepared: PreparedPrompt, turn: ChatTurn, include_usage: bool
) -> AsyncIterator[bytes]:
    """The worker generates and gives the queue slot back when its generation has ended; a client
    that leaves sets ``cancelled``, which ends the generation at the next token."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()
    cancelled = threading.Event()
    head = {"id": turn.id, "object": "chat.completion.chunk", "created": turn.created, "model": s.model_card()["id"]}

    def put(item) -> None:
        loop.call_soon_threadsafe(events.put_nowait, item)

    try:
        slot.in_use = True
        future = loop.run_in_executor(s.queue.executor, _produce, s, slot, prepared, turn, cancelled, put)
        while True:
            kind, item = await events.get()
            for data in _events(kind, item, head, include_usage):
                yield data
            if kind == "end":
                break
        await future
    finally:
        cancelled.set()


def _produce(
    s: Services, slot: QueueSlot, prepared: PreparedPrompt, turn: ChatTurn, cancelled: threading.Event, put: Callable
) -> None:
    """In a worker: put ``(kind, item)`` events (sources, text pieces, done or error, end), then
    leave the trace and give the queue slot back."""
    result = None
    latency: dict[str, float] = {}
    error = None
    try:
        put(("sources", prepared))
        result, latency = _generate(s, prepared, turn, cancelled, put)
        put(("done", result))
    except APIError as exc:
        error = exc.message
        put(("error", error_body(exc.message, exc.type, exc.param, exc.code)))
    except (LLMError, ValueError) as exc:
        error = str(exc)
        put(("error", error_body(str(exc), "invalid_request_error")))
    except Exception as exc:  # reported to the client as a generic error, logged in full here
        logger.exception("streaming generation failed")
        error = type(exc).__name__
        put(("error", error_body("internal error while generating", "server_error")))
    finally:
        put(("end", None))
    try:
        store_trace(s, build_trace(s, ENDPOINT, turn.query, prepared, result, latency, error, cancelled.is_set()))
    finally:
        slot.release()  # the generation has ended: the next request may take this place


def _generate(
    s: Services, prepared: PreparedPrompt, turn: ChatTurn, cancelled: threading.Event, put: Callable
) -> tuple[ChatResult, dict[str, float]]:
    """Generate, putting each text piece, until the end or ``cancelled``; the result and latency."""
    t = time.perf_counter()
    with cancel_on(cancelled):
        stream = s.rag.respond_stream(prepared, **turn.options)
        try:
            for piece in stream:
                if cancelled.is_set():
                    break
                put(("text", piece))
        finally:
            stream.close()
    result = stream.final()
    return result, {**prepared.timings_ms, "generation": ms(t), "total": ms(turn.started)}


def _events(kind: str, item: Any, head: dict[str, Any], include_usage: bool) -> list[bytes]:
    """The SSE lines one worker event becomes."""
    if kind == "sources":
        author = item.retrieval.query.author_full_name if item.retrieval else None
        return [_sse(_chunk(head, {"role": "assistant", "content": ""}, sources=public_sources(item), author=author))]
    if kind == "text":
        return [_sse(_chunk(head, {"content": item}))]
    if kind == "done":  # "answer": the final, tidy text (a streamed loop ends without its repeat)
        final = _chunk(head, {}, finish=item.finish_reason if item else "stop", answer=item.text if item else None)
        if include_usage and item is not None:
            return [_sse(final), _sse({**_chunk(head, {}), "choices": [], "usage": usage(item)})]
        return [_sse(final)]
    if kind == "error":
        return [_sse(item)]
    return [_sse("[DONE]")]  # "end"


def _chunk(head: dict[str, Any], delta: dict, finish=None, **extra) -> dict:
    return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


def _sse(data: dict | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()


class _SlotStreamingResponse(StreamingResponse):
    """A streaming response that gives its queue slot back when it ends before its generation was
    handed to a worker (otherwise the worker does, once the generation has ended)."""

    def __init__(self, content, *, slot: QueueSlot, **kwargs) -> None:
        super().__init__(content, **kwargs)
        self._slot = slot

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self._slot.in_use:
                self._slot.release()
