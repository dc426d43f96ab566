"""What the service says about itself: ``/health`` (model, backend, queue, the limits a client must
keep to), ``/metrics`` (Prometheus), ``/v1/models`` and the recent traces on ``/v1/traces``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from llm_engineering.entrypoints.api.dependencies import Services, get_services, limits, safe_backend, safe_card
from llm_engineering.entrypoints.api.errors import APIError
from llm_engineering.entrypoints.api.tracing import public_trace

router = APIRouter()


@router.get("/health")
def health(s: Services = Depends(get_services)):
    card = safe_card(s)
    return {
        "status": "ok",
        "model": card["id"] if card else None,
        "model_version": card["version"] if card else None,
        "base_model": card["base_model"] if card else None,
        "backend": safe_backend(s),
        "queue": {"pending": s.queue.pending, "max": s.queue.max_pending},
        "auth": bool(s.settings.API_KEY),
        "limits": limits(s),
    }


@router.get("/metrics")
async def prometheus_metrics(s: Services = Depends(get_services)):
    body, content_type = s.metrics.render()
    return Response(body, media_type=content_type)


@router.get("/v1/models")
def models(s: Services = Depends(get_services)):
    card = {**s.model_card(), "backend": safe_backend(s), "context_tokens": s.context_tokens}
    return {"object": "list", "data": [{**card, "max_tokens": limits(s)["max_tokens"]}]}


@router.get("/v1/traces")
async def traces(limit: int = 20, s: Services = Depends(get_services)):
    if not 1 <= limit <= 500:
        raise APIError(422, "limit must be between 1 and 500", param="limit")
    found = await asyncio.get_running_loop().run_in_executor(None, s.traces.recent, limit)
    return {"object": "list", "data": [public_trace(t.model_dump(mode="json")) for t in found]}
