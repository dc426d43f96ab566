"""``POST /v1/chat/completions``: OpenAI's chat completions, answered from the author's writing
(``rag``, ``k`` and ``author`` are this service's extensions), streamed as SSE with ``stream``."""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi import APIRouter, Depends, Request

from llm_engineering.entrypoints.api.dependencies import Services, get_services
from llm_engineering.entrypoints.api.errors import APIError
from llm_engineering.entrypoints.api.generation import ChatTurn, generate, max_tokens_for, ms, public_sources, usage
from llm_engineering.entrypoints.api.model_card import accepted_names
from llm_engineering.entrypoints.api.schemas import ChatCompletionRequest
from llm_engineering.entrypoints.api.streaming import ENDPOINT, stream_answer
from llm_engineering.entrypoints.api.tracing import record
from llm_engineering.infrastructure.llm.base import cancel_on

router = APIRouter()


@router.post(ENDPOINT)
async def chat_completions(request: Request, body: ChatCompletionRequest, s: Services = Depends(get_services)):
    if body.model and body.model not in accepted_names(s.model_card(), s.llm):
        raise APIError(
            404,
            f"the model {body.model!r} is not served here; this service answers as {s.model_card()['id']!r} "
            "(see GET /v1/models)",
            param="model",
            code="model_not_found",
        )
    max_tokens = max_tokens_for(s.settings, body.max_tokens or body.max_completion_tokens)
    turn = ChatTurn(
        query=body.messages[-1].content,
        history=[m.model_dump() for m in body.messages[:-1]],
        use_rag=s.rag_by_default if body.rag is None else body.rag,
        k=body.k,
        author=body.author,
        max_tokens=max_tokens,
        options=dict(max_tokens=max_tokens, temperature=body.temperature, top_p=body.top_p, stop=body.stop),
    )
    if body.stream:
        return await stream_answer(s, turn, bool(body.stream_options and body.stream_options.include_usage))
    return await _answer(request, s, turn)


async def _answer(request: Request, s: Services, turn: ChatTurn) -> dict[str, Any]:
    cancel = threading.Event()

    def work():
        prepared = turn.prepare(s)
        t = time.perf_counter()
        with cancel_on(cancel):
            result = s.rag.respond(prepared, **turn.options)
        return prepared, result, ms(t)

    prepared, result, generation_ms = await generate(s, ENDPOINT, turn.query, work, request, cancel)
    latency = {**prepared.timings_ms, "generation": generation_ms, "total": ms(turn.started)}
    await record(s, ENDPOINT, turn.query, prepared, result, latency, cancelled=cancel.is_set())
    return {
        "id": turn.id,
        "object": "chat.completion",
        "created": turn.created,
        "model": s.model_card()["id"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "finish_reason": result.finish_reason,
            }
        ],
        "usage": usage(result),
        "sources": public_sources(prepared),
    }
