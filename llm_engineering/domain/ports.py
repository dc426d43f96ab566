"""The stores the domain persists through (its ports), and the adapters wired to them.

``DocumentStore`` is what the document ODM (``base/nosql.py``) needs from a warehouse;
``VectorStore`` is what the vector ODM (``base/vector.py``) needs from a vector database, in
qdrant-client's terms (requests and answers are ``qdrant_client.models`` objects). The adapters
live in ``infrastructure/db`` (SQLite and MongoDB warehouses; qdrant-client and the embedded
Qdrant Edge store) and are wired here once at start-up by ``llm_engineering.bootstrap.bootstrap()``;
tests wire the same way, with other adapters where they need them.

A port is wired to an adapter or to a zero-argument factory; a factory is called on first use, so
wiring opens nothing (``--help`` stays fast, importing stays free of side effects).
``close_stores()`` closes the adapters in use; a factory-wired port opens a new one on its next use.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from llm_engineering.exceptions import StoreUnavailableError

Filters = dict[str, Any]


class DocumentStore(ABC):
    """What the ODM needs from a warehouse, and nothing more."""

    @abstractmethod
    def ensure_collection(self, collection: str, unique: Sequence[str] = (), indexed: Sequence[str] = ()) -> None:
        """Create the collection and its indexes if missing (idempotent)."""

    @abstractmethod
    def insert_many(self, collection: str, docs: Sequence[dict]) -> int:
        """Insert new documents; on any duplicate key nothing is written and DuplicateKeyError is raised."""

    @abstractmethod
    def upsert_many(self, collection: str, docs: Sequence[dict], key: str = "_id") -> tuple[int, int]:
        """Insert or replace documents matched on ``key``; returns (inserted, updated).

        When ``key`` is not ``_id``, an existing document keeps its ``_id``.
        """

    @abstractmethod
    def find(
        self, collection: str, filters: Filters | None = None, limit: int | None = None, newest_first: bool = False
    ) -> list[dict]:
        """Documents matching equality filters (dotted paths, ``{"$in": [...]}``), in insertion order
        (or the reverse), at most ``limit`` of them read."""

    def transaction(self):
        """A context in which this thread's writes are all-or-nothing together, where the store can
        do it (SQLite); elsewhere each batch stays all-or-nothing on its own."""
        return contextlib.nullcontext()

    @abstractmethod
    def count(self, collection: str, filters: Filters | None = None) -> int: ...

    @abstractmethod
    def delete(self, collection: str, filters: Filters | None = None) -> int:
        """Delete matching documents; returns how many."""

    @abstractmethod
    def collections(self) -> list[str]: ...

    @abstractmethod
    def close(self) -> None: ...

    def find_one(self, collection: str, filters: Filters | None = None) -> dict | None:
        found = self.find(collection, filters, limit=1)
        return found[0] if found else None


class VectorStore(Protocol):
    """The part of ``qdrant_client.QdrantClient`` the vector ODM calls (the collection name first)."""

    def collection_exists(self, collection_name: str, /) -> bool: ...

    def get_collection(self, collection_name: str, /) -> Any: ...

    def create_collection(self, collection_name: str, /, vectors_config: Any, sparse_vectors_config: Any) -> bool: ...

    def create_payload_index(self, collection_name: str, /, field_name: str, field_schema: Any) -> Any: ...

    def delete_collection(self, collection_name: str, /) -> bool: ...

    def upsert(self, collection_name: str, /, points: list, wait: bool) -> Any: ...

    def delete(self, collection_name: str, /, points_selector: Any, wait: bool) -> Any: ...

    def count(self, collection_name: str, /, count_filter: Any, exact: bool) -> Any: ...

    def scroll(
        self,
        collection_name: str,
        /,
        scroll_filter: Any,
        limit: int,
        offset: Any,
        with_payload: bool,
        with_vectors: bool,
    ) -> tuple[list, Any]: ...

    def query_batch_points(self, collection_name: str, /, requests: list) -> list: ...

    def close(self) -> None: ...

    # optional: ``optimize(collection_name) -> bool`` builds indexes now, for an embedded store that
    # does not build them in the background (VectorBaseDocument.build_indexes)


_DOCUMENT_STORE, _VECTOR_STORE = "document store", "vector store"
_wired: dict[str, Any] = {}  # port -> adapter, or zero-argument factory of one
_in_use: dict[str, Any] = {}  # port -> the adapter answering it now
_lock = threading.Lock()


def use_stores(
    document_store: DocumentStore | Callable[[], DocumentStore] | None = None,
    vector_store: VectorStore | Callable[[], VectorStore] | None = None,
) -> None:
    """Wire adapters (or zero-argument factories of them) to the ports; a port not named keeps
    what it has. A rewired port's adapter in use is closed first."""
    for port, given in ((_DOCUMENT_STORE, document_store), (_VECTOR_STORE, vector_store)):
        if given is not None:
            with _lock:
                replaced = _in_use.pop(port, None)
                _wired[port] = given
            if replaced is not None:
                replaced.close()


def stores_wired() -> bool:
    """Whether both ports are wired (their adapters may not be open yet)."""
    return _DOCUMENT_STORE in _wired and _VECTOR_STORE in _wired


def document_store() -> DocumentStore:
    """The wired warehouse (opened on first use)."""
    return _adapter(_DOCUMENT_STORE)


def vector_store() -> VectorStore:
    """The wired vector store (opened on first use)."""
    return _adapter(_VECTOR_STORE)


def _adapter(port: str) -> Any:
    with _lock:
        if port not in _in_use:
            if port not in _wired:
                raise StoreUnavailableError(
                    f"no {port} is wired: call llm_engineering.bootstrap.bootstrap() at start-up"
                )
            wired = _wired[port]
            _in_use[port] = wired() if callable(wired) else wired
        return _in_use[port]


def close_stores() -> None:
    """Close the adapters in use (e.g. to hand a local Qdrant folder to another process, and at
    exit); a port wired to a factory opens a new adapter on its next use."""
    with _lock:
        adapters = list(_in_use.values())
        _in_use.clear()
    for adapter in adapters:
        adapter.close()
