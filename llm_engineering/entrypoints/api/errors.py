"""Errors as clients see them: JSON in OpenAI's shape, ``{"error": {"message", "type", "param",
"code"}}``, with the status that fits and never a stack trace."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger
from starlette.exceptions import HTTPException as StarletteHTTPException

from llm_engineering.infrastructure.llm import LLMError


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


class ClientGone(APIError):
    """The client left before its work started (answered 499, which nobody reads)."""

    def __init__(self) -> None:
        super().__init__(499, "the client closed the request", code="client_closed")


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(LLMError, _llm_error)
    app.add_exception_handler(Exception, _unexpected)


async def _api_error(request: Request, exc: APIError):
    return JSONResponse(error_body(exc.message, exc.type, exc.param, exc.code), exc.status, headers=exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError):
    """400 for a body that is not JSON; 422 naming the first field that is wrong, with every
    problem in ``details``."""
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


async def _http_error(request: Request, exc: StarletteHTTPException):
    type_ = "not_found" if exc.status_code == 404 else "invalid_request_error"
    return JSONResponse(error_body(str(exc.detail), type_), exc.status_code, headers=exc.headers)


async def _llm_error(request: Request, exc: LLMError):
    return JSONResponse(error_body(str(exc), "invalid_request_error"), 422)


async def _unexpected(request: Request, exc: Exception):
    logger.opt(exception=exc).error(f"unhandled error on {request.method} {request.url.path}")
    return JSONResponse(error_body("internal error", "server_error"), 500)
