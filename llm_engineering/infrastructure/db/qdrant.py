"""Qdrant client factory: the embedded store in a folder by default (Qdrant Edge, or qdrant-client's
local mode with ``QDRANT_EMBEDDED=local``), memory mode for ``QDRANT_PATH=:memory:``, a server when
QDRANT_URL is set. The clients answer ``llm_engineering.domain.ports.VectorStore``."""

from __future__ import annotations

from llm_engineering.exceptions import StoreUnavailableError
from llm_engineering.infrastructure.db.qdrant_edge import EdgeClient
from llm_engineering.settings import get_settings


def build_qdrant_client(settings=None):
    from qdrant_client import QdrantClient

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
        return EdgeClient(path)
    try:
        return LocalModeClient(QdrantClient(path=str(path)))
    except RuntimeError as exc:
        if "already accessed" in str(exc):
            raise StoreUnavailableError(
                f"the Qdrant folder {path} is in use by another process (local mode allows one "
                "process per folder). Stop the other pipeline or service, or run a Qdrant server "
                "and set QDRANT_URL."
            ) from None
        raise


class LocalModeClient:
    """qdrant-client's local mode, with each collection's SQLite file switched to WAL before the
    collection is first written to.

    Local mode commits once per point; with SQLite's default rollback journal every commit waits
    for fsync (~60 points/s here). WAL with ``synchronous=NORMAL`` keeps the file consistent after
    a crash and commits without waiting (~4,000 points/s). Everything else is the wrapped client's.
    """

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name: str):
        return getattr(self._client, name)

    def upsert(self, collection_name: str, *args, **kwargs):
        self._use_wal(collection_name)
        return self._client.upsert(collection_name, *args, **kwargs)

    def delete(self, collection_name: str, *args, **kwargs):
        self._use_wal(collection_name)
        return self._client.delete(collection_name, *args, **kwargs)

    def _use_wal(self, collection: str) -> None:
        collections = getattr(getattr(self._client, "_client", None), "collections", None)
        if not isinstance(collections, dict) or collection not in collections:
            return
        persistence = getattr(collections[collection], "storage", None)
        connection = getattr(persistence, "storage", None)
        if connection is None or getattr(persistence, "_wal_enabled", False):
            return
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        persistence._wal_enabled = True
