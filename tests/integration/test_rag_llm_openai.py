"""The OpenAI-compatible backend against real HTTP servers on 127.0.0.1: this project's own service
(uvicorn, real SmolLM2) and a tiny flaky server for the retry behaviour."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fixtures.rag.support import free_port, local_llm, serve_in_thread
from pydantic import SecretStr

from llm_engineering.infrastructure.llm import LLMError, get_llm
from llm_engineering.infrastructure.llm.openai_backend import OpenAICompatibleLLM
from llm_engineering.settings import load_settings

QUESTION = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]


@pytest.fixture(scope="module")
def local():
    return local_llm()


@pytest.fixture(scope="module")
def service_url(local):
    from llm_engineering.entrypoints.api.app import create_app

    app = create_app(load_settings(API_KEY="k-123"), llm=local, rag_by_default=False)
    with serve_in_thread(app) as url:
        yield f"{url}/v1"


@pytest.fixture
def remote(service_url):
    return OpenAICompatibleLLM(service_url, api_key=SecretStr("k-123"), max_retries=2)


def test_model_is_discovered_and_answers_match_local_generation(remote, local):
    assert remote.model_id == local.model_id
    got = remote.chat(QUESTION, max_tokens=16)
    want = local.chat(QUESTION, max_tokens=16)
    assert got.text == want.text
    assert (got.prompt_tokens, got.completion_tokens, got.finish_reason) == (
        want.prompt_tokens,
        want.completion_tokens,
        want.finish_reason,
    )


def test_stream_and_stop_pass_through(remote, local):
    stream = remote.stream(QUESTION, max_tokens=16)
    pieces = list(stream)
    assert len(pieces) > 3 and "".join(pieces) == local.chat(QUESTION, max_tokens=16).text
    assert stream.result.completion_tokens > 0
    stopped = remote.chat(QUESTION, max_tokens=40, stop=["5"])
    assert "5" not in stopped.text and "4" in stopped.text


def test_batch_keeps_order(remote):
    conversations = [[{"role": "user", "content": "What is the capital of France?"}], QUESTION]
    results = remote.chat_batch(conversations, max_tokens=10)
    assert "Paris" in results[0].text and "1" in results[1].text


def test_wrong_key_fails_at_once_with_a_clear_error(service_url):
    client = OpenAICompatibleLLM(service_url, model_id="SmolLM2-135M-Instruct", api_key=SecretStr("nope"))
    with pytest.raises(LLMError, match="401") as caught:
        client.chat(QUESTION, max_tokens=2)
    assert "nope" not in str(caught.value)


def test_get_llm_uses_the_server_when_llm_base_url_is_set(monkeypatch, service_url):
    monkeypatch.setenv("LLM_BASE_URL", service_url)
    monkeypatch.setenv("LLM_API_KEY", "k-123")
    from llm_engineering.settings import get_settings

    get_settings.cache_clear()
    get_llm.cache_clear()
    try:
        llm = get_llm()
        assert isinstance(llm, OpenAICompatibleLLM)
        assert llm.chat(QUESTION, max_tokens=3).completion_tokens == 3
    finally:
        get_llm.cache_clear()


class _Flaky(BaseHTTPRequestHandler):
    failures = 2
    calls = 0

    def do_POST(self):  # noqa: N802 (http.server's naming)
        type(self).calls += 1
        self.rfile.read(int(self.headers["content-length"]))
        if type(self).calls <= type(self).failures:
            body, status = b'{"error": {"message": "overloaded"}}', 503
        else:
            body = json.dumps(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "m",
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                }
            ).encode()
            status = 200
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_transient_server_errors_are_retried_then_succeed():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        result = OpenAICompatibleLLM(url, model_id="m", max_retries=3).chat(QUESTION, max_tokens=2)
        assert result.text == "ok" and _Flaky.calls == 3
        _Flaky.calls, _Flaky.failures = 0, 5
        with pytest.raises(LLMError, match="503"):
            OpenAICompatibleLLM(url, model_id="m", max_retries=2).chat(QUESTION, max_tokens=2)
        assert _Flaky.calls == 2
    finally:
        server.shutdown()


def test_unreachable_server_is_reported():
    client = OpenAICompatibleLLM(f"http://127.0.0.1:{free_port()}/v1", model_id="m", max_retries=1, timeout_s=2)
    with pytest.raises(LLMError, match="failed"):
        client.chat(QUESTION, max_tokens=2)
