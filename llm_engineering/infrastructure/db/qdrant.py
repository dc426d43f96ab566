"""Qdrant client factory: the embedded store in a folder by default (Qdrant Edge, or qdrant-client's
local mode with ``QDRANT_EMBEDDED=local``), memory mode for ``QDRANT_PATH=:memory:``, a server when
QDRANT_URL is set."""

from __future__ import annotations

import atexit
from functools import lru_cache

from llm_engineering.exceptions import StoreUnavailableError


def build_qdrant_client(settings=None):
    from qdrant_client import QdrantClient

    from llm_engineering.settings import get_settings

    settings = settings or get_settings()
    if settings.QDRANT_URL:
        api_key = settings.QDRANT_API_KEY.get_secret_value() if settings.QDRANT_API_KEY else None
        client = QdrantClient(url=settings.QDRANT_URL, api_key=api_key, timeout=10)
        try:
            client.get_collections()
        except Exception as exc:  # any transport error means the same thing to the user
            raise StoreUnavailableError(
                f"QDRANT_URL {settings.QDRANT_URL} is unreachable ({type(exc).__name__}). "
                "Start Qdrant (docker compose up -d qdrant) or unset QDRANT_URL to use local mode."
            ) from None
        return client
    path = settings.qdrant_path
    if str(path) == ":memory:":
        return QdrantClient(location=":memory:")
    path.mkdir(parents=True, exist_ok=True)
    if settings.QDRANT_EMBEDDED == "edge":
        from llm_engineering.infrastructure.db.qdrant_edge import EdgeClient

        return EdgeClient(path)
    try:
        return QdrantClient(path=str(path))
    except RuntimeError as exc:
        if "already accessed" in str(exc):
            raise StoreUnavailableError(
                f"the Qdrant folder {path} is in use by another process (local mode allows one "
                "process per folder). Stop the other pipeline or service, or run a Qdrant server "
                "and set QDRANT_URL."
            ) from None
        raise


@lru_cache(maxsize=1)
def get_qdrant_client():
    """The process-wide Qdrant client, opened on first use and closed when the process exits."""
    client = build_qdrant_client()
    atexit.unregister(close_qdrant_client)
    atexit.register(close_qdrant_client)
    return client


def close_qdrant_client() -> None:
    """Close the process-wide client, if one is open. Registered to run at exit: left to its
    ``__del__`` during interpreter shutdown, qdrant-client's local mode fails ("Exception ignored …
    sys.meta_path is None")."""
    if get_qdrant_client.cache_info().currsize:
        get_qdrant_client().close()
    get_qdrant_client.cache_clear()
