"""What no request can do to the service: exhaust it, get past the key unread, or learn server paths.

Real SmolLM2 on CPU, real stores, uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from fixtures.rag.support import load_fixture_corpus, local_llm, serve_in_thread

from llm_engineering.domain.queries import PromptTrace
from llm_engineering.entrypoints.api.app import create_app
from llm_engineering.settings import load_settings

LONG_ANSWER = {"role": "user", "content": "Write a long, detailed story about a lighthouse keeper and the sea."}


@pytest.fixture(scope="module")
def llm():
    return local_llm()


@pytest.fixture(scope="module")
def app(llm):
    return create_app(load_settings(SERVICE_MAX_TOKENS_LIMIT=512), llm=llm)


@pytest.fixture(scope="module")
def url(app):
    with serve_in_thread(app) as base:
        yield base


@pytest.fixture
def client(url):
    load_fixture_corpus()
    with httpx.Client(base_url=url, timeout=120) as c:
        yield c


def _chat(**extra):
    return {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4, "rag": False, **extra}


@pytest.mark.parametrize(
    ("stop", "message"),
    [
        (["a", "b", "c", "d", "e"], "at most 4 stop sequences"),
        ("x" * 33, "at most 32 characters (one has 33)"),
        (["ok", "y" * 2048], "at most 32 characters (one has 2048)"),
    ],
)
def test_stop_strings_are_bounded_in_count_and_length(client, stop, message):
    response = client.post("/v1/chat/completions", json=_chat(stop=stop))
    assert response.status_code == 422 and message in response.json()["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_prompt_longer_than_the_context_is_refused_at_once_naming_the_limit(client, stream):
    started = time.monotonic()
    request = {"messages": [{"role": "user", "content": "tok " * 12_000}], "rag": False, "max_tokens": 16}
    response = client.post("/v1/chat/completions", json={**request, "stream": stream})
    assert response.status_code == 400, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "the model's context is 8192 tokens" in error["message"] and "max_tokens=16" in error["message"]
    assert time.monotonic() - started < 10  # refused before any generation


def test_the_prompt_and_max_tokens_together_must_fit(client):
    request = {"messages": [{"role": "user", "content": "tok " * 7_900}], "rag": False}
    refused = client.post("/v1/chat/completions", json={**request, "max_tokens": 512})
    assert refused.status_code == 400 and "at most 7680 tokens" in refused.json()["error"]["message"]


def test_oversized_headers_are_refused(client):
    response = client.get("/v1/models", headers={"X-Filler": "f" * 20_000})
    assert response.status_code == 431 and response.json()["error"]["code"] == "headers_too_large"


def test_the_key_is_checked_before_the_body_is_read(llm):
    app = create_app(load_settings(API_KEY="s3cret-key"), llm=llm)
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        malformed = c.post("/rag", content=b'{"query": ', headers={"content-type": "application/json"})
        assert malformed.status_code == 401 and malformed.json()["error"]["code"] == "invalid_api_key"
        huge = c.post("/rag", content=b"x" * 200_000, headers={"content-type": "application/json"})
        assert huge.status_code == 401
        keyed = c.post(
            "/rag",
            content=b'{"query": ',
            headers={"content-type": "application/json", "Authorization": "Bearer s3cret-key"},
        )
        assert keyed.status_code == 400 and keyed.json()["error"]["code"] == "invalid_json"


def test_traces_never_show_server_paths(client):
    PromptTrace(
        endpoint="/rag",
        query="where are my notes?",
        chunks=[{"chunk_id": "c", "document_id": "d", "link": "file:///srv/private/alice/notes%20v2.md"}],
        prompt="[1] Notes (file:///srv/private/alice/notes%20v2.md)\nAnswer from the context.",
    ).save()
    [trace] = client.get("/v1/traces", params={"limit": 1}).json()["data"]
    assert trace["chunks"][0]["link"] == "notes v2.md"
    assert "[1] Notes (notes v2.md)" in trace["prompt"] and "/srv/private" not in str(trace)


def test_traces_are_read_with_the_limit(client, monkeypatch):
    for i in range(40):
        PromptTrace(endpoint="/rag", query=f"question {i}").save()
    read = []
    original = PromptTrace.from_mongo.__func__

    def counting(cls, data):
        read.append(data["_id"])
        return original(cls, data)

    monkeypatch.setattr(PromptTrace, "from_mongo", classmethod(counting))
    data = client.get("/v1/traces", params={"limit": 3}).json()["data"]
    assert [t["query"] for t in data] == ["question 39", "question 38", "question 37"]
    assert len(read) == 3  # not every stored trace


def _cancelled_trace(client, seconds: float = 5.0) -> dict:
    """The newest trace once it says "cancelled" (the handler writes it just after the generation
    has freed its slot), or whatever is newest after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        data = client.get("/v1/traces", params={"limit": 1}).json()["data"]
        if (data and data[0]["status"] == "cancelled") or time.monotonic() > deadline:
            [trace] = data
            return trace
        time.sleep(0.05)


def _wait_idle(app, llm, seconds: float) -> float:
    queue, started = app.state.services.queue, time.monotonic()
    while queue.pending and time.monotonic() - started < seconds:
        time.sleep(0.02)
    return time.monotonic() - started


def test_a_client_that_gives_up_stops_its_generation(app, url, llm, client):
    request = {"messages": [LONG_ANSWER], "max_tokens": 400, "rag": False}
    with pytest.raises(httpx.TimeoutException):
        httpx.post(f"{url}/v1/chat/completions", json=request, timeout=1.0)
    assert _wait_idle(app, llm, 5) < 3  # stopped within a few token steps, not after 400 tokens
    assert not llm._generate_lock.locked()  # the slot came back only once the model was free
    trace = _cancelled_trace(client)
    assert trace["status"] == "cancelled" and trace["completion_tokens"] < 400


def test_a_stream_closed_mid_answer_stops_and_is_traced_cancelled(app, llm, client):
    request = {"messages": [LONG_ANSWER], "max_tokens": 400, "stream": True, "rag": False}
    with client.stream("POST", "/v1/chat/completions", json=request) as response:
        lines = response.iter_lines()
        next(lines)
        next(lines)
    assert _wait_idle(app, llm, 5) < 3
    assert not llm._generate_lock.locked()
    trace = _cancelled_trace(client)
    assert trace["status"] == "cancelled" and trace["completion_tokens"] < 400


def test_abandoned_requests_cannot_pile_up_behind_the_queue_limit(app, url, llm, client):
    def give_up():
        request = {"messages": [LONG_ANSWER], "max_tokens": 400, "rag": False}
        try:
            httpx.post(f"{url}/v1/chat/completions", json=request, timeout=0.3)
        except httpx.TimeoutException:
            pass

    threads = [threading.Thread(target=give_up) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    started = time.monotonic()
    answer = client.post("/v1/chat/completions", json=_chat())
    assert answer.status_code == 200
    assert time.monotonic() - started < 15  # not 8 full generations
