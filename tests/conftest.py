"""Shared fixtures: every test gets its own DATA_DIR with fresh embedded stores."""

from __future__ import annotations

import os
import tempfile

import pytest

from llm_engineering.bootstrap import bootstrap
from llm_engineering.domain.ports import close_stores
from llm_engineering.infrastructure.db.document_store import build_document_store
from llm_engineering.infrastructure.db.qdrant import build_qdrant_client
from llm_engineering.settings import get_settings

os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# One converted base model for the whole suite (and for later runs on the same machine): the
# GGUF → Hugging Face conversion takes ~20 s, so tests never repeat it per module.
os.environ.setdefault(
    "MODEL_CACHE_DIR",
    os.environ.get("LLM_TWIN_TEST_MODEL_CACHE") or os.path.join(tempfile.gettempdir(), "llm_twin_test_models"),
)


def reset_factories() -> None:
    """Close the stores and forget the settings, so the next use opens the stores anew from the
    environment as it is then (DATA_DIR, DATABASE_HOST, QDRANT_*)."""
    get_settings.cache_clear()
    bootstrap(document_store=build_document_store, vector_store=build_qdrant_client)


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """A private DATA_DIR (warehouse, Qdrant folder, caches) for each test."""
    folder = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(folder))
    for name in ("DATABASE_HOST", "QDRANT_URL", "QDRANT_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # so no developer .env leaks in
    reset_factories()
    yield folder
    close_stores()


LOOPBACK_ONLY = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"


def open_chromium():
    """Headless Chromium through the project's own launcher, resolving only loopback hosts.

    Skips the calling test with the reason when Chromium or its driver is not installed.
    """
    from llm_engineering.infrastructure.browser import chromium_problem, start_browser
    from llm_engineering.settings import load_settings

    settings = load_settings(CHROMIUM_HOST_RESOLVER_RULES=LOOPBACK_ONLY, CRAWL_TIMEOUT_S=60)
    problem = chromium_problem(settings)
    if problem:
        pytest.skip(problem)
    driver = start_browser(settings)
    driver.set_window_size(1400, 900)
    return driver
