"""The inference service over real HTTP (uvicorn on 127.0.0.1) with the real SmolLM2 and stores."""

import json
import time

import httpx
import pytest
from fixtures.rag.support import load_fixture_corpus, local_llm, serve_in_thread

from llm_engineering.entrypoints.api.app import create_app
from llm_engineering.settings import load_settings

QUESTION = "What does Maxime enable on production clusters?"


@pytest.fixture(scope="module")
def llm():
    return local_llm()


@pytest.fixture(scope="module")
def server_app(llm):
    settings = load_settings(SERVICE_MAX_TOKENS_LIMIT=64, SERVICE_MAX_REQUEST_BYTES=65536, RAG_ANSWER_MODE="generate")
    return create_app(settings, llm=llm)  # generated answers: these tests are about generation and streaming


@pytest.fixture(scope="module")
def server(server_app):
    with serve_in_thread(server_app) as url:
        yield url


@pytest.fixture(scope="module")
def secured_server(llm):
    app = create_app(load_settings(API_KEY="s3cret-key"), llm=llm)
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
def client(server):
    load_fixture_corpus()
    with httpx.Client(base_url=server, timeout=120) as c:
        yield c


def test_health_models_and_chat_page(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["model"] == "SmolLM2-135M-Instruct"
    models = client.get("/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["SmolLM2-135M-Instruct"]
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="question"' in page.text


def test_rag_answers_with_sources_and_leaves_a_trace(client):
    response = client.post("/rag", json={"query": QUESTION, "k": 3, "max_tokens": 24})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"].strip()
    assert body["author"] == "Maxime Laurent"
    assert body["sources"][0]["link"] == "https://blog.example.com/maxime/vector-databases"
    assert 0 < body["usage"]["completion_tokens"] <= 24
    assert {"retrieval_total", "generation", "total"} <= set(body["latency_ms"])
    traces = client.get("/v1/traces", params={"limit": 5}).json()["data"]
    trace = next(t for t in traces if t["id"] == body["trace_id"])
    assert trace["query"] == QUESTION and trace["detected_author"] == "Maxime Laurent"
    assert trace["answer"] == body["answer"]
    assert "zorblax-snapshot-v7" in trace["prompt"] and "<|im_start|>assistant" in trace["prompt"]
    assert trace["chunks"][0]["score"] > 0 and trace["completion_tokens"] == body["usage"]["completion_tokens"]


def test_openai_shaped_completion(client):
    response = client.post(
        "/v1/chat/completions",
        json={"model": "SmolLM2-135M-Instruct", "messages": [{"role": "user", "content": QUESTION}], "max_tokens": 12},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant" and body["choices"][0]["message"]["content"]
    assert body["usage"]["completion_tokens"] <= 12 and body["sources"]


def test_streaming_sends_sources_then_text_chunks_then_done(client):
    request = {
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": 16,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    events = []
    with client.stream("POST", "/v1/chat/completions", json=request) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["sources"][0]["link"].startswith("https://blog.example.com/maxime/")
    texts = [c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]]
    assert sum(1 for t in texts if t) > 3
    assert any(c["choices"] and c["choices"][0]["finish_reason"] for c in chunks)
    assert chunks[-1]["usage"]["completion_tokens"] <= 16


def test_a_client_leaving_mid_stream_frees_its_queue_slot(client, server_app):
    request = {"messages": [{"role": "user", "content": "Count from 1 to 100."}], "max_tokens": 60, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=request) as response:
        next(response.iter_lines())
    queue = server_app.state.services.queue
    for _ in range(200):
        if queue.pending == 0:
            break
        time.sleep(0.05)
    assert queue.pending == 0
    assert client.post("/rag", json={"query": QUESTION, "max_tokens": 2}).status_code == 200


def test_rag_can_be_switched_off_per_request(client):
    body = client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8, "rag": False},
    ).json()
    assert body["sources"] == [] and body["choices"][0]["message"]["content"]


@pytest.mark.parametrize(
    "path,payload,status,code",
    [
        ("/rag", {"query": ""}, 422, "invalid_value"),
        ("/rag", {"query": "   "}, 422, "invalid_value"),
        ("/rag", {"query": "x", "max_tokens": 65}, 422, "max_tokens_too_large"),
        ("/rag", {"query": "x", "k": 0}, 422, "invalid_value"),
        ("/rag", {"query": "x", "author": "Nobody Known"}, 422, "unknown_author"),
        (
            "/v1/chat/completions",
            {"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]},
            404,
            "model_not_found",
        ),
        ("/v1/chat/completions", {"messages": []}, 422, "invalid_value"),
        ("/v1/chat/completions", {"messages": [{"role": "robot", "content": "x"}]}, 422, "invalid_value"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "x"}], "max_tokens": 100000},
            422,
            "max_tokens_too_large",
        ),
    ],
)
def test_bad_requests_get_json_errors(client, path, payload, status, code):
    response = client.post(path, json=payload)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert "Traceback" not in response.text


def test_bad_json_and_oversized_bodies(client):
    bad = client.post("/rag", content=b'{"query": ', headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    huge = client.post("/rag", json={"query": "word " * 20_000})  # ~100 KB
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "request_too_large"

    def chunks():  # no Content-Length: the limit is enforced while reading
        yield b'{"query": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    streamed = client.post("/rag", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_queue_full_answers_503(llm):
    app = create_app(load_settings(SERVICE_MAX_QUEUE=1), llm=llm, rag_by_default=False)
    request = {"messages": [{"role": "user", "content": "Count to five."}], "max_tokens": 4}
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=60) as c:
        llm._generate_lock.acquire()  # hold the model so the first request waits in the queue
        try:
            import threading

            first: list = []
            worker = threading.Thread(target=lambda: first.append(c.post("/v1/chat/completions", json=request)))
            worker.start()
            for _ in range(200):
                if app.state.services.queue.pending:
                    break
                threading.Event().wait(0.01)
            busy = httpx.post(f"{url}/v1/chat/completions", json=request, timeout=10)
            assert busy.status_code == 503 and busy.json()["error"]["code"] == "queue_full"
            busy_stream = httpx.post(f"{url}/v1/chat/completions", json={**request, "stream": True}, timeout=10)
            assert busy_stream.status_code == 503
        finally:
            llm._generate_lock.release()
        worker.join()
        assert first[0].status_code == 200


def test_metrics_count_requests_and_tokens(client):
    client.post("/rag", json={"query": QUESTION, "max_tokens": 4})
    text = client.get("/metrics").text
    assert 'llm_twin_requests_total{endpoint="/rag",status="200"}' in text
    assert "llm_twin_generated_tokens_total" in text and "llm_twin_stage_latency_seconds_bucket" in text


def test_api_key_is_required_when_configured(secured_server):
    load_fixture_corpus()
    request = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "rag": False}
    with httpx.Client(base_url=secured_server, timeout=60) as c:
        assert c.get("/health").status_code == 200  # probes stay open
        missing = c.post("/v1/chat/completions", json=request)
        assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"
        wrong = c.post("/v1/chat/completions", json=request, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "s3cret" not in wrong.text
        assert c.get("/v1/traces", headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = c.post("/v1/chat/completions", json=request, headers={"Authorization": "Bearer s3cret-key"})
        assert ok.status_code == 200
