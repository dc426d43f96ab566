"""What is checked and counted around every request, as plain ASGI: header size (431) and the API
key (401) before the body is read, the body size (413) while it is read, and request counts and
latency by endpoint and status, refusals included."""

from __future__ import annotations

import hmac
import json
import time

from fastapi import FastAPI

from llm_engineering.entrypoints.api.errors import error_body
from llm_engineering.entrypoints.api.monitoring import Metrics

OPEN_PATHS = frozenset({"/", "/health", "/docs", "/docs/oauth2-redirect", "/openapi.json"})


def install_middleware(app: FastAPI, settings, metrics: Metrics) -> None:
    """Body limit innermost, then the guard; the request metrics outermost (they count refusals too)."""
    app.add_middleware(BodyLimit, max_bytes=settings.SERVICE_MAX_REQUEST_BYTES)
    app.add_middleware(
        RequestGuard,
        max_header_bytes=settings.SERVICE_MAX_HEADER_BYTES,
        api_key=settings.API_KEY.get_secret_value() if settings.API_KEY else "",
    )
    app.add_middleware(RequestMetrics, metrics=metrics)


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
