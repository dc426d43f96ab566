"""Start-up wiring: the adapters the domain's store ports use (``llm_engineering.domain.ports``).

Every entry point calls ``bootstrap()`` before it touches a store: the command lines under
``tools/`` and the benchmarks, the ZenML pipelines (their ``on_init`` hook, run in each process
that runs steps) and the API's command line. Tests call it with adapters of their own.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from functools import partial

from llm_engineering.domain import ports
from llm_engineering.infrastructure.db.document_store import build_document_store
from llm_engineering.infrastructure.db.qdrant import build_qdrant_client
from llm_engineering.settings import Settings


def bootstrap(
    settings: Settings | None = None,
    document_store: ports.DocumentStore | Callable[[], ports.DocumentStore] | None = None,
    vector_store: ports.VectorStore | Callable[[], ports.VectorStore] | None = None,
) -> None:
    """Wire the stores: the adapters (or zero-argument factories) handed in, and for a port given
    none the adapter ``settings`` asks for (``get_settings()``'s, read on first use, when None).

    Nothing opens here: each adapter is built on first use. Called with no arguments while the
    stores are wired, it changes nothing, so every entry point can call it. The adapters in use
    are closed at exit: left to its ``__del__`` during interpreter shutdown, qdrant-client's local
    mode fails ("Exception ignored … sys.meta_path is None").
    """
    if settings is None and document_store is None and vector_store is None and ports.stores_wired():
        return
    ports.use_stores(
        document_store=document_store if document_store is not None else partial(build_document_store, settings),
        vector_store=vector_store if vector_store is not None else partial(build_qdrant_client, settings),
    )
    atexit.unregister(ports.close_stores)
    atexit.register(ports.close_stores)
