"""``POST /rag``: one question, answered from the author's writing, with its sources, usage,
latency by stage and the id of the trace it left."""

from __future__ import annotations

import threading
import time

from fastapi import APIRouter, Depends, Request

from llm_engineering.entrypoints.api.dependencies import Services, get_services
from llm_engineering.entrypoints.api.generation import generate, max_tokens_for, ms, prepare, public_sources, usage
from llm_engineering.entrypoints.api.schemas import RAGRequest, RAGResponse
from llm_engineering.entrypoints.api.tracing import record
from llm_engineering.infrastructure.llm.base import cancel_on

router = APIRouter()


@router.post("/rag", response_model=RAGResponse)
async def rag_endpoint(request: Request, body: RAGRequest, s: Services = Depends(get_services)):
    max_tokens = max_tokens_for(s.settings, body.max_tokens)
    started = time.perf_counter()
    cancel = threading.Event()

    def work():
        prepared = prepare(s, body.query, body.k, body.author, True, max_tokens=max_tokens)
        t = time.perf_counter()
        with cancel_on(cancel):
            result = s.rag.respond(prepared, max_tokens=max_tokens, temperature=body.temperature)
        return prepared, result, ms(t)

    prepared, result, generation_ms = await generate(s, "/rag", body.query, work, request, cancel)
    latency = {**prepared.timings_ms, "generation": generation_ms, "total": ms(started)}
    trace_id = await record(s, "/rag", body.query, prepared, result, latency, cancelled=cancel.is_set())
    author = prepared.retrieval.query.author_full_name if prepared.retrieval else None
    return RAGResponse(
        answer=result.text,
        sources=public_sources(prepared),
        author=author,
        model=s.model_card()["id"],
        usage=usage(result),
        finish_reason=result.finish_reason,
        latency_ms=latency,
        trace_id=trace_id,
    )
