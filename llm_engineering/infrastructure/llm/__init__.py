"""Text generation behind one interface: ``get_llm()`` returns an ``LLMClient``.

With ``LLM_BASE_URL`` set, requests go to that OpenAI-compatible server; otherwise the model
(``LLM_MODEL_ID``: empty = base SmolLM2, ``latest`` = newest tuned model) runs in this process, on
the engine ``LLM_BACKEND`` names (``local_llm``).
"""

from __future__ import annotations

from functools import lru_cache

from loguru import logger

from llm_engineering.infrastructure.llm.base import ChatResult, LLMClient, LLMError, Message, TextStream
from llm_engineering.infrastructure.llm.local import LocalLLM
from llm_engineering.infrastructure.llm.onnx_genai import ENGINE, FastLocalLLM, engine_installed
from llm_engineering.infrastructure.llm.openai_backend import OpenAICompatibleLLM
from llm_engineering.settings import get_settings


@lru_cache(maxsize=4)
def get_llm(model_id: str | None = None) -> LLMClient:
    """The process-wide client for ``model_id`` (default ``LLM_MODEL_ID``); nothing loads until used."""
    settings = get_settings()
    model_id = model_id or settings.LLM_MODEL_ID or None
    if settings.LLM_BASE_URL:
        return OpenAICompatibleLLM(
            settings.LLM_BASE_URL,
            model_id=model_id,
            api_key=settings.LLM_API_KEY,
            timeout_s=settings.LLM_TIMEOUT_S,
            max_retries=settings.LLM_MAX_RETRIES,
            max_concurrency=settings.LLM_MAX_CONCURRENCY,
        )
    return local_llm(model_id)


def local_llm(model_id: str | None = None, **options) -> LLMClient:
    """An in-process client for ``model_id`` (a model id or folder) on the ``LLM_BACKEND`` engine.

    ``auto``: ONNX Runtime GenAI when it is installed (the client itself falls back to
    transformers, with a warning, if the model does not convert); ``onnxruntime``: that engine or a
    clear error; ``transformers``: transformers ``generate``. ``options`` go to the client
    (``batch_size``, ``stop_repeats``; default ``LLM_STOP_REPEATS``).
    """
    settings = get_settings()
    options.setdefault("stop_repeats", settings.LLM_STOP_REPEATS)
    backend = settings.LLM_BACKEND
    if backend == "onnxruntime" and not engine_installed():
        raise LLMError(f"LLM_BACKEND=onnxruntime needs the {ENGINE} package (pip install {ENGINE})")
    if backend == "transformers" or not engine_installed():
        if backend == "auto":
            logger.info("LLM backend: transformers ({} is not installed)", ENGINE)
        return LocalLLM(model_id, **options)
    return FastLocalLLM(model_id, precision=settings.LLM_ONNX_PRECISION, fallback=backend == "auto", **options)


def get_twin_llm() -> LLMClient:
    """The model that answers as the twin (RAG, the service): ``LLM_MODEL_ID`` when set, else the
    newest tuned version in the registry (the base model until one exists). A remote
    ``LLM_BASE_URL`` server decides for itself when ``LLM_MODEL_ID`` is empty."""
    settings = get_settings()
    if settings.LLM_BASE_URL or settings.LLM_MODEL_ID:
        return get_llm()
    return get_llm("latest")


__all__ = ["ChatResult", "LLMClient", "LLMError", "Message", "TextStream", "get_llm", "get_twin_llm", "local_llm"]
