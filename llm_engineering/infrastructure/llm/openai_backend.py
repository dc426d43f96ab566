"""The remote backend: any server that speaks the OpenAI chat API.

OpenAI itself, vLLM, Ollama, llama.cpp's server or this project's own service
(``python -m tools.ml_service serve``). Transient failures (connection errors, timeouts, 429 and
5xx answers) are retried with exponential backoff; ``chat_batch`` runs a bounded number of
requests at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from loguru import logger
from pydantic import SecretStr
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from llm_engineering.infrastructure.llm.base import (
    ChatResult,
    LLMClient,
    LLMError,
    StopStreamFilter,
    TextStream,
    check_arguments,
)


def _transient(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError)):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


class OpenAICompatibleLLM(LLMClient):
    """Chat completions over HTTP. ``model_id`` empty: the server's first listed model."""

    def __init__(
        self,
        base_url: str,
        model_id: str | None = None,
        api_key: SecretStr | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 3,
        max_concurrency: int = 4,
    ) -> None:
        import openai

        self.base_url = base_url
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key.get_secret_value() if api_key else "unused",
            timeout=timeout_s,
            max_retries=0,  # tenacity below owns retries
        )
        self._model_id = model_id or None
        self._model_lock = threading.Lock()
        self.max_retries = max(1, max_retries)
        self.max_concurrency = max(1, max_concurrency)

    @property
    def model_id(self) -> str:  # type: ignore[override]
        if self._model_id is None:
            with self._model_lock:
                if self._model_id is None:
                    models = self._call(lambda: self._client.models.list().data)
                    if not models:
                        raise LLMError(f"the server at {self.base_url} lists no models; set LLM_MODEL_ID")
                    self._model_id = models[0].id
        return self._model_id

    def _call(self, fn):
        import openai

        try:
            for attempt in Retrying(
                retry=retry_if_exception(_transient),
                stop=stop_after_attempt(self.max_retries),
                wait=wait_exponential(multiplier=0.5, max=8),
                reraise=True,
            ):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        logger.warning(
                            f"retrying the LLM server at {self.base_url} (try {attempt.retry_state.attempt_number})"
                        )
                    return fn()
        except openai.APIStatusError as exc:
            raise LLMError(f"the LLM server answered {exc.status_code}: {_detail(exc)}") from None
        except openai.APIError as exc:
            raise LLMError(f"the LLM server at {self.base_url} failed: {type(exc).__name__}") from None

    def _request(self, messages, max_tokens, temperature, top_p, stop) -> dict:
        check_arguments(messages, max_tokens, temperature, top_p)
        request = {
            "model": self.model_id,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": top_p,
        }
        if stop:
            request["stop"] = list(stop)
        return request

    def chat(self, messages, *, max_tokens=256, temperature=0.0, top_p=1.0, stop=None) -> ChatResult:
        request = self._request(messages, max_tokens, temperature, top_p, stop)
        response = self._call(lambda: self._client.chat.completions.create(**request))
        choice = response.choices[0]
        usage = response.usage
        return ChatResult(
            text=choice.message.content or "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            finish_reason="length" if choice.finish_reason == "length" else "stop",
        )

    def chat_batch(self, conversations, *, max_tokens=256, temperature=0.0, top_p=1.0, stop=None) -> list[ChatResult]:
        def one(messages):
            return self.chat(messages, max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop)

        if not conversations:
            return []
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(conversations))) as pool:
            return list(pool.map(one, conversations))

    def stream(self, messages, *, max_tokens=256, temperature=0.0, top_p=1.0, stop=None) -> TextStream:
        request = self._request(messages, max_tokens, temperature, top_p, stop)
        stream = TextStream(iter(()))
        stream._pieces = self._stream_pieces(stream, request, stop)
        return stream

    def _stream_pieces(self, stream: TextStream, request: dict, stop) -> Iterator[str]:
        import openai

        response = self._call(
            lambda: self._client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
        )
        filtered = StopStreamFilter(stop)  # servers differ in how strictly they honour stop
        pieces: list[str] = []
        finish, usage = "stop", None
        try:
            for chunk in response:
                if chunk.usage:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.finish_reason:
                        finish = "length" if choice.finish_reason == "length" else "stop"
                    out = filtered.feed(choice.delta.content or "") if choice.delta else ""
                    if out:
                        pieces.append(out)
                        yield out
                if filtered.stopped:
                    break
            tail = filtered.flush()
            if tail:
                pieces.append(tail)
                yield tail
        except openai.APIError as exc:
            raise LLMError(f"the LLM server at {self.base_url} failed while streaming: {type(exc).__name__}") from None
        finally:
            response.close()
        stream.result = ChatResult(
            text="".join(pieces),
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            finish_reason="stop" if filtered.stopped else finish,
        )


def _detail(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
    return type(exc).__name__
