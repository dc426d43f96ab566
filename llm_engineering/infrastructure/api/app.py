"""The inference service: FastAPI app factory.

Endpoints: ``POST /rag``, ``POST /v1/chat/completions`` (OpenAI shape, SSE with ``stream``),
``GET /v1/models``, ``GET /v1/traces``, ``GET /health``, ``GET /metrics`` and the chat page on
``GET /``. One LLM instance serves every request; generation runs in worker threads behind a
bounded queue (503 when full), never on the event loop. Errors are JSON in OpenAI's shape
(``{"error": {"message", "type", "param", "code"}}``) and never carry a stack trace.

What a request may cost is bounded before any work: header size (431) and the API key (401) are
checked before the body is read, the body size (413) while it is read, the prompt after the chat
template against the model's context (400). A client that leaves stops its generation within a
token step, and its queue slot is given back only once that work has stopped (traced "cancelled").
Sources are listed once per document and name local files by their name, never by a path on the
server's disk. The model is named by its registry version (``model_card``); ``/health`` also gives
the limits a client must keep to (the chat page reads them).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from loguru import logger
from starlette.exceptions import HTTPException as StarletteHTTPException

from llm_engineering.application.crawlers.base import public_link, public_text
from llm_engineering.application.rag.answer import unique_sources
from llm_engineering.application.rag.authors import UnknownAuthorError
from llm_engineering.application.rag.pipeline import PreparedPrompt, TwinRAG
from llm_engineering.domain.queries import PromptTrace
from llm_engineering.infrastructure.api.model_card import accepted_names, describe
from llm_engineering.infrastructure.api.monitoring import Metrics, TraceRecorder
from llm_engineering.infrastructure.api.schemas import ChatCompletionRequest, RAGRequest, RAGResponse
from llm_engineering.infrastructure.llm import ChatResult, LLMClient, LLMError
from llm_engineering.infrastructure.llm.base import cancel_on

STATIC = Path(__file__).with_name("static")


class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code
        self.headers = headers


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class GenerationQueue:
    """At most ``max_pending`` generations running or waiting; each runs in a worker thread."""

    def __init__(self, max_pending: int, workers: int, metrics: Metrics) -> None:
        self.max_pending = max_pending
        self.pending = 0
        self.metrics = metrics
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="generate")
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            if self.pending >= self.max_pending:
                self.metrics.rejected.inc()
                raise APIError(
                    503,
                    "the service is busy; retry shortly",
                    "server_busy",
                    code="queue_full",
                    headers={"Retry-After": "1"},
                )
            self.pending += 1
            self.metrics.queue_depth.set(self.pending)

    def release(self) -> None:
        with self._lock:
            self.pending -= 1
            self.metrics.queue_depth.set(self.pending)

    async def run(self, fn: Callable, *args, request: Request | None = None, cancel: threading.Event | None = None):
        """Run ``fn(*args)`` in a worker. When ``request``'s client leaves, ``cancel`` is set (the
        work stops generating); the slot is given back once the work has ended, not before."""
        self.acquire()

        def unless_gone():  # work whose client left while it waited is not started at all
            if cancel is not None and cancel.is_set():
                raise ClientGone()
            return fn(*args)

        future = asyncio.get_running_loop().run_in_executor(self.executor, unless_gone)
        try:
            while True:
                done, _ = await asyncio.wait({future}, timeout=0.1)
                if done:
                    return future.result()
                if request is not None and cancel is not None and not cancel.is_set():
                    if await request.is_disconnected():
                        cancel.set()
        except asyncio.CancelledError:
            if cancel is not None:
                cancel.set()
            raise
        finally:
            if future.done():
                self.release()
            else:
                future.add_done_callback(lambda _: self.release())


class ClientGone(APIError):
    """The client left before its work started (answered 499, which nobody reads)."""

    def __init__(self) -> None:
        super().__init__(499, "the client closed the request", code="client_closed")


class QueueSlot:
    """A queue place taken for a stream, given back exactly once."""

    def __init__(self, queue: GenerationQueue) -> None:
        self._queue = queue
        self._lock = threading.Lock()
        self._held = True
        self.in_use = False  # set when the generation has been handed to a worker

    def release(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._queue.release()


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


async def send_error(send, status: int, body: dict, headers: dict | None = None) -> None:
    """Answer a request from ASGI middleware with an error body in the API's shape."""
    data = json.dumps(body).encode()
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *extra],
        }
    )
    await send({"type": "http.response.body", "body": data})


OPEN_PATHS = frozenset({"/", "/health", "/docs", "/docs/oauth2-redirect", "/openapi.json"})


class RequestGuard:
    """Checks what needs no body, before anything reads it: header size (431), then the API key
    (401) on every path but the chat page, the health probe and the API docs."""

    def __init__(self, app, max_header_bytes: int, api_key: str = "") -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.api_key = api_key.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = scope.get("headers") or []
        size = sum(len(name) + len(value) + 4 for name, value in headers)
        if size > self.max_header_bytes:
            message = f"request headers larger than {self.max_header_bytes} bytes (SERVICE_MAX_HEADER_BYTES)"
            return await send_error(send, 431, error_body(message, "invalid_request_error", code="headers_too_large"))
        if self.api_key and scope.get("path") not in OPEN_PATHS and not self._authorised(headers):
            return await send_error(
                send,
                401,
                error_body(
                    "missing or wrong API key (Authorization: Bearer <key>)",
                    "authentication_error",
                    code="invalid_api_key",
                ),
                {"WWW-Authenticate": "Bearer"},
            )
        await self.app(scope, receive, send)

    def _authorised(self, headers) -> bool:
        given = next((v for k, v in headers if k.lower() == b"authorization"), b"")
        scheme, _, token = given.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.api_key)


class BodyLimit:
    """Refuses request bodies larger than ``max_bytes`` with 413, before the app reads them."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(send)
        received = 0
        too_large = False

        async def limited():
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        refused = False

        async def guarded_send(message):
            # The app turns a failed body read into its own error; answer 413 instead.
            nonlocal refused
            if too_large:
                if not refused:
                    refused = True
                    await self._refuse(send)
                return
            await send(message)

        try:
            await self.app(scope, limited, guarded_send)
        except _BodyTooLarge:
            if not refused:
                await self._refuse(send)

    async def _refuse(self, send):
        message = f"request body larger than {self.max_bytes} bytes"
        await send_error(send, 413, error_body(message, "invalid_request_error", code="request_too_large"))


class _BodyTooLarge(Exception):
    pass


def create_app(
    settings=None,
    llm: LLMClient | None = None,
    rag: TwinRAG | None = None,
    rag_by_default: bool = True,
    warmup: bool = False,
) -> FastAPI:
    """Build the service. ``llm``/``rag`` default to ``get_twin_llm()`` and a ``TwinRAG`` over the stores."""
    from llm_engineering.settings import get_settings

    settings = settings or get_settings()
    _fewer_malloc_arenas()
    metrics = Metrics()
    rag = rag or TwinRAG(llm=llm, answer_mode=settings.RAG_ANSWER_MODE, history_chars=settings.RAG_HISTORY_CHARS)
    workers = 1 if not settings.LLM_BASE_URL else settings.LLM_MAX_CONCURRENCY
    services = Services(
        settings=settings,
        rag=rag,
        queue=GenerationQueue(settings.SERVICE_MAX_QUEUE, workers, metrics),
        metrics=metrics,
        traces=TraceRecorder(
            settings.SERVICE_TRACES, settings.OPIK_API_KEY, settings.OPIK_WORKSPACE, settings.OPIK_PROJECT_NAME
        ),
        rag_by_default=rag_by_default,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if warmup:
            await asyncio.get_running_loop().run_in_executor(None, _warm_up, services)
        yield
        services.queue.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="LLM Twin", version="0.1.0", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.services = services
    app.add_middleware(BodyLimit, max_bytes=settings.SERVICE_MAX_REQUEST_BYTES)
    app.add_middleware(
        RequestGuard,
        max_header_bytes=settings.SERVICE_MAX_HEADER_BYTES,
        api_key=settings.API_KEY.get_secret_value() if settings.API_KEY else "",
    )
    app.add_middleware(RequestMetrics, metrics=metrics)  # outermost: counts refusals too
    _install_error_handlers(app)

    def get_services(request: Request) -> Services:
        return request.app.state.services

    # ---- pages and probes -----------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def chat_page():
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/health")
    def health(s: Services = Depends(get_services)):
        card = _safe_card(s)
        return {
            "status": "ok",
            "model": card["id"] if card else None,
            "model_version": card["version"] if card else None,
            "base_model": card["base_model"] if card else None,
            "backend": _safe_backend(s),
            "queue": {"pending": s.queue.pending, "max": s.queue.max_pending},
            "auth": bool(settings.API_KEY),
            "limits": _limits(s),
        }

    @app.get("/metrics")
    async def prometheus_metrics(s: Services = Depends(get_services)):
        body, content_type = s.metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/v1/models")
    def models(s: Services = Depends(get_services)):
        card = {**s.model_card(), "backend": _safe_backend(s), "context_tokens": s.context_tokens}
        return {"object": "list", "data": [{**card, "max_tokens": _limits(s)["max_tokens"]}]}

    @app.get("/v1/traces")
    async def traces(limit: int = 20, s: Services = Depends(get_services)):
        if not 1 <= limit <= 500:
            raise APIError(422, "limit must be between 1 and 500", param="limit")
        found = await asyncio.get_running_loop().run_in_executor(None, s.traces.recent, limit)
        return {"object": "list", "data": [_public_trace(t.model_dump(mode="json")) for t in found]}

    # ---- generation -----------------------------------------------------------------------------
    @app.post("/rag", response_model=RAGResponse)
    async def rag_endpoint(request: Request, body: RAGRequest, s: Services = Depends(get_services)):
        max_tokens = _max_tokens(settings, body.max_tokens)
        started = time.perf_counter()
        cancel = threading.Event()

        def work():
            prepared = _prepare(s, body.query, body.k, body.author, True, max_tokens=max_tokens)
            t = time.perf_counter()
            with cancel_on(cancel):
                result = s.rag.respond(prepared, max_tokens=max_tokens, temperature=body.temperature)
            return prepared, result, _ms(t)

        prepared, result, generation_ms = await _generate(s, "/rag", body.query, work, request, cancel)
        latency = {**prepared.timings_ms, "generation": generation_ms, "total": _ms(started)}
        trace_id = await _record(s, "/rag", body.query, prepared, result, latency, cancelled=cancel.is_set())
        author = prepared.retrieval.query.author_full_name if prepared.retrieval else None
        return RAGResponse(
            answer=result.text,
            sources=_public_sources(prepared),
            author=author,
            model=s.model_card()["id"],
            usage=_usage(result),
            finish_reason=result.finish_reason,
            latency_ms=latency,
            trace_id=trace_id,
        )

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request, body: ChatCompletionRequest, s: Services = Depends(get_services)):
        if body.model and body.model not in accepted_names(s.model_card(), s.llm):
            raise APIError(
                404,
                f"the model {body.model!r} is not served here; this service answers as {s.model_card()['id']!r} "
                "(see GET /v1/models)",
                param="model",
                code="model_not_found",
            )
        max_tokens = _max_tokens(settings, body.max_tokens or body.max_completion_tokens)
        use_rag = s.rag_by_default if body.rag is None else body.rag
        query = body.messages[-1].content
        history = [m.model_dump() for m in body.messages[:-1]]
        options = dict(max_tokens=max_tokens, temperature=body.temperature, top_p=body.top_p, stop=body.stop)
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        started = time.perf_counter()
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            s.queue.acquire()  # refuse now (503), before the 200 of the event stream is sent
            slot = QueueSlot(s.queue)
            try:  # a prompt too long for the model is refused (400) before the stream starts
                prepared = await asyncio.get_running_loop().run_in_executor(
                    s.queue.executor, _prepare, s, query, body.k, body.author, use_rag, history, max_tokens
                )
            except BaseException:
                slot.release()
                raise
            return _SlotStreamingResponse(
                _stream_events(s, slot, prepared, query, options, completion_id, created, started, include_usage),
                slot=slot,
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )

        cancel = threading.Event()

        def work():
            prepared = _prepare(s, query, body.k, body.author, use_rag, history, max_tokens)
            t = time.perf_counter()
            with cancel_on(cancel):
                result = s.rag.respond(prepared, **options)
            return prepared, result, _ms(t)

        prepared, result, generation_ms = await _generate(s, "/v1/chat/completions", query, work, request, cancel)
        latency = {**prepared.timings_ms, "generation": generation_ms, "total": _ms(started)}
        await _record(s, "/v1/chat/completions", query, prepared, result, latency, cancelled=cancel.is_set())
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": s.model_card()["id"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.text},
                    "finish_reason": result.finish_reason,
                }
            ],
            "usage": _usage(result),
            "sources": _public_sources(prepared),
        }

    return app


# ---- helpers ------------------------------------------------------------------------------------
def _fewer_malloc_arenas(arenas: int = 2) -> None:
    """Let glibc keep at most ``arenas`` malloc arenas. By default every thread that allocates may
    get one of its own, kept for good: requests served on many threads (streams, abandoned work)
    then leave ~100 MB the service no longer uses (measured: +95 MB after 40 abandoned requests,
    +16 MB with two arenas). Elsewhere than glibc this does nothing."""
    import ctypes

    try:
        ctypes.CDLL(None).mallopt(-8, arenas)  # -8: M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def _safe_card(s: Services) -> dict[str, Any] | None:
    try:
        return s.model_card()
    except LLMError:  # a remote server that cannot be reached
        return None


def _safe_model(s: Services) -> str | None:
    card = _safe_card(s)
    return card["id"] if card else None


def _limits(s: Services) -> dict[str, int | None]:
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


def _safe_backend(s: Services) -> str | None:
    """What generates the answers (e.g. ``onnxruntime-genai (int8)``, ``transformers``)."""
    try:
        return s.llm.backend
    except LLMError:
        return None


def _warm_up(s: Services) -> None:
    started = time.perf_counter()
    s.llm.render_prompt([{"role": "user", "content": "warm-up"}])
    s.context_tokens = getattr(s.llm, "context_window", None)
    _safe_card(s)
    try:
        s.rag.retriever.search("warm-up", k=1)
    except ValueError:
        pass
    logger.info(f"service warmed up in {time.perf_counter() - started:.1f}s")


def _max_tokens(settings, requested: int | None) -> int:
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


def _prepare(s: Services, query: str, k, author, use_rag: bool, history=(), max_tokens: int = 0) -> PreparedPrompt:
    try:
        prepared = s.rag.prepare(query, k=k, author=author, history=history, use_rag=use_rag)
    except UnknownAuthorError:
        raise APIError(422, _unknown_author(author or ""), param="author", code="unknown_author") from None
    _check_context(s, prepared.messages, max_tokens)
    return prepared


def _unknown_author(name: str, shown: int = 8) -> str:
    """One line: the name not found and the authors there are."""
    from llm_engineering.domain.documents import UserDocument

    names = sorted(u.full_name for u in UserDocument.bulk_find())
    known = ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
    return f"no author named {name.strip()!r}; " + (f"the authors are {known}" if names else "no author is loaded yet")


async def _generate(s: Services, endpoint: str, query: str, work: Callable, request: Request, cancel: threading.Event):
    """``work`` through the queue; a request whose client left before it started leaves a
    "cancelled" trace."""
    try:
        return await s.queue.run(work, request=request, cancel=cancel)
    except ClientGone:
        await _record(s, endpoint, query, None, None, {}, cancelled=True)
        raise


def _check_context(s: Services, messages, max_tokens: int) -> None:
    """Refuse a prompt that, after the chat template, leaves less than ``max_tokens`` of the model's
    context (backends that cannot tell, e.g. a remote server, judge it themselves)."""
    window = getattr(s.llm, "context_window", None)
    count = getattr(s.llm, "prompt_tokens", None)
    s.context_tokens = window or None
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


def _public_sources(prepared: PreparedPrompt) -> list[dict[str, Any]]:
    """One source per document (its best-ranked passage's), in retrieval order: the numbers an
    answer cites (``[1]``) are positions in this list."""
    return [{**source, "link": public_link(source.get("link"))} for source in unique_sources(prepared.sources())]


def _public_trace(trace: dict[str, Any]) -> dict[str, Any]:
    """A stored trace as API clients see it: local files named, never located on the server's disk."""
    chunks = [{**c, "link": public_link(c.get("link"))} for c in trace.get("chunks") or []]
    return {**trace, "chunks": chunks, "prompt": public_text(trace.get("prompt") or "")}


def _usage(result: ChatResult) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)


def _trace(
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
    prompt = ""
    if prepared is not None:
        try:
            prompt = s.llm.render_prompt(prepared.messages)
        except (LLMError, ValueError) as exc:
            prompt = f"(not rendered: {type(exc).__name__})"
    return PromptTrace(
        endpoint=endpoint,
        model_id=_safe_model(s) or "",
        backend=_safe_backend(s) or "",
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


async def _record(s: Services, endpoint, query, prepared, result, latency, cancelled: bool = False) -> str | None:
    def work():
        trace = _trace(s, endpoint, query, prepared, result, latency, cancelled=cancelled)
        s.metrics.observe_trace(trace)
        return s.traces.record(trace)

    return await asyncio.get_running_loop().run_in_executor(None, work)


def _sse(data: dict | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()


async def _stream_events(
    s: Services, slot: QueueSlot, prepared, query, options, completion_id, created, started, include_usage
) -> AsyncIterator[bytes]:
    """SSE chunks in OpenAI's format. The worker gives the queue slot back when its generation has
    ended; a client that leaves sets ``cancelled``, which ends the generation at the next token."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()
    cancelled = threading.Event()
    model = s.model_card()["id"]

    def chunk(delta: dict, finish=None, **extra) -> dict:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }

    def produce():
        put = lambda item: loop.call_soon_threadsafe(events.put_nowait, item)
        result = None
        latency: dict[str, float] = {}
        error = None
        try:
            put(("sources", prepared))
            t = time.perf_counter()
            with cancel_on(cancelled):
                stream = s.rag.respond_stream(prepared, **options)
                try:
                    for piece in stream:
                        if cancelled.is_set():
                            break
                        put(("text", piece))
                finally:
                    stream.close()
            result = stream.final()
            latency = {**prepared.timings_ms, "generation": _ms(t), "total": _ms(started)}
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
            trace = _trace(s, "/v1/chat/completions", query, prepared, result, latency, error, cancelled.is_set())
            s.metrics.observe_trace(trace)
            s.traces.record(trace)
        finally:
            slot.release()  # the generation has ended: the next request may take this place

    try:
        slot.in_use = True
        future = loop.run_in_executor(s.queue.executor, produce)
        while True:
            kind, item = await events.get()
            if kind == "sources":
                yield _sse(
                    chunk(
                        {"role": "assistant", "content": ""},
                        sources=_public_sources(item),
                        author=item.retrieval.query.author_full_name if item.retrieval else None,
                    )
                )
            elif kind == "text":
                yield _sse(chunk({"content": item}))
            elif kind == "done":  # "answer": the final, tidy text (a streamed loop ends without its repeat)
                final = chunk({}, finish=item.finish_reason if item else "stop", answer=item.text if item else None)
                yield _sse(final)
                if include_usage and item is not None:
                    yield _sse({**chunk({}), "choices": [], "usage": _usage(item)})
            elif kind == "error":
                yield _sse(item)
            elif kind == "end":
                yield _sse("[DONE]")
                break
        await future
    finally:
        cancelled.set()


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


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError):
        return JSONResponse(error_body(exc.message, exc.type, exc.param, exc.code), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse(
                error_body("the request body is not valid JSON", "invalid_request_error", code="invalid_json"), 400
            )
        details = [{"loc": [str(p) for p in e.get("loc", ())][1:], "msg": e.get("msg", "")} for e in errors]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        param = ".".join(first["loc"]) or None
        body = error_body(f"{param or 'body'}: {first['msg']}", "invalid_request_error", param, "invalid_value")
        body["error"]["details"] = details
        return JSONResponse(body, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        type_ = "not_found" if exc.status_code == 404 else "invalid_request_error"
        return JSONResponse(error_body(str(exc.detail), type_), exc.status_code, headers=exc.headers)

    @app.exception_handler(LLMError)
    async def llm_error(request: Request, exc: LLMError):
        return JSONResponse(error_body(str(exc), "invalid_request_error"), 422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        logger.opt(exception=exc).error(f"unhandled error on {request.method} {request.url.path}")
        return JSONResponse(error_body("internal error", "server_error"), 500)


class RequestMetrics:
    """Counts requests by endpoint and status and times them (plain ASGI: it leaves ``receive``
    alone, so an endpoint can still see its client leave)."""

    known = frozenset({"/", "/health", "/metrics", "/rag", "/v1/models", "/v1/traces", "/v1/chat/completions"})

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        endpoint = scope.get("path") if scope.get("path") in self.known else "other"
        status = 500

        async def record_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
