"""Which model answers as the twin: the newest tuned one unless a setting pins another."""

from __future__ import annotations

import pytest

from llm_engineering.infrastructure.llm import get_llm, get_twin_llm
from llm_engineering.settings import get_settings


@pytest.fixture(autouse=True)
def fresh_clients():
    get_llm.cache_clear()
    yield
    get_llm.cache_clear()


def test_the_twin_defaults_to_the_newest_tuned_model():
    assert get_twin_llm().requested_model == "latest"


def test_a_pinned_model_wins(monkeypatch):
    monkeypatch.setenv("LLM_MODEL_ID", "/models/my-twin")
    get_settings.cache_clear()
    assert get_twin_llm().requested_model == "/models/my-twin"


def test_a_remote_server_chooses_its_own_model(monkeypatch):
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:9/v1")
    get_settings.cache_clear()
    client = get_twin_llm()
    assert type(client).__name__ == "OpenAICompatibleLLM"
