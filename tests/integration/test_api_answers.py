"""What a client of the service reads, over real HTTP with the real SmolLM2 and stores: the model
named by its registry version, sources once per document, quoted answers that count their tokens
and keep to max_tokens, and "nothing answers that" in the question's language."""

import httpx
import pytest
from fixtures.rag.support import load_fixture_corpus, local_llm, serve_in_thread

from llm_engineering.application.rag.answer import NO_ANSWER, NO_ANSWER_KO
from llm_engineering.entrypoints.api.app import create_app
from llm_engineering.settings import load_settings

QUESTION = "Which snapshot option does Maxime enable on production clusters?"


@pytest.fixture(scope="module")
def quoting_server():
    app = create_app(load_settings(RAG_ANSWER_MODE="extractive"), llm=local_llm())
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
def client(quoting_server):
    load_fixture_corpus()
    with httpx.Client(base_url=quoting_server, timeout=120) as c:
        yield c


def test_rag_lists_each_document_once_in_the_order_the_answer_cites(client):
    body = client.post("/rag", json={"query": QUESTION, "k": 6}).json()
    documents = [s["document_id"] for s in body["sources"]]
    assert len(documents) == len(set(documents)) > 1
    traces = client.get("/v1/traces", params={"limit": 5}).json()["data"]
    chunks = next(t for t in traces if t["id"] == body["trace_id"])["chunks"]
    assert len(chunks) > len(documents)  # several passages of one document were retrieved: listed once
    assert body["sources"][0]["link"] == "https://blog.example.com/maxime/vector-databases"
    assert "[1]" in body["answer"]
    streamed = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}], "k": 6})
    assert [s["document_id"] for s in streamed.json()["sources"]] == documents


def test_quoted_answers_count_their_tokens_and_keep_to_max_tokens(client):
    tokenizer = local_llm().tokenizer
    full = client.post("/rag", json={"query": QUESTION}).json()
    tokens = len(tokenizer(full["answer"], add_special_tokens=False)["input_ids"])
    assert full["usage"]["completion_tokens"] == tokens > 8 and full["finish_reason"] == "stop"
    assert full["usage"]["prompt_tokens"] == 0  # no prompt went through the model

    short = client.post("/rag", json={"query": QUESTION, "max_tokens": 8}).json()
    assert 0 < short["usage"]["completion_tokens"] <= 8 and short["finish_reason"] == "length"
    assert len(tokenizer(short["answer"], add_special_tokens=False)["input_ids"]) <= 8
    assert full["answer"].startswith(short["answer"].split(" …")[0])  # the same words, cut at the end

    request = {"messages": [{"role": "user", "content": QUESTION}], "max_tokens": 8, "stream": True}
    request["stream_options"] = {"include_usage": True}
    with client.stream("POST", "/v1/chat/completions", json=request) as response:
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: {")]
    import json

    events = [json.loads(line) for line in lines]
    assert next(e["answer"] for e in events if "answer" in e) == short["answer"]
    assert events[-1]["usage"]["completion_tokens"] == short["usage"]["completion_tokens"]


def test_nothing_answers_it_is_said_in_the_questions_language(client):
    korean = client.post("/rag", json={"query": "김민준은 고양이 사료로 어떤 브랜드를 고르나요?"}).json()
    assert korean["answer"] == NO_ANSWER_KO
    english = client.post("/rag", json={"query": "Which cat food brand does Maxime buy?"}).json()
    assert english["answer"] == NO_ANSWER


def test_models_name_the_registry_version_and_its_base_model(monkeypatch):
    """A published version is listed as ``twin-v0001`` with its base model; ``latest`` still works."""
    from conftest import reset_factories

    from llm_engineering.infrastructure.llm import local_llm as twin_llm
    from llm_engineering.model.loading import base_model_dir
    from llm_engineering.model.registry import get_registry

    monkeypatch.setenv("LLM_BACKEND", "transformers")  # no ONNX copy built at publish time
    reset_factories()
    registry = get_registry()
    staging = registry.staging()
    (staging / "model").symlink_to(base_model_dir(), target_is_directory=True)  # the base's weights, as v0001
    manifest = {"base_model": "SmolLM2-135M-Instruct", "stages": ["sft"]}
    registry.publish(staging, metrics={}, config={}, manifest=manifest)

    load_fixture_corpus()
    app = create_app(load_settings(RAG_ANSWER_MODE="extractive"), llm=twin_llm("latest"))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=120) as c:
        (model,) = c.get("/v1/models").json()["data"]
        assert model["id"] == "twin-v0001" and model["version"] == "v0001"
        assert model["base_model"] == "SmolLM2-135M-Instruct" and model["stages"] == ["sft"]
        assert model["tuned"] is True and model["created"] > 1_700_000_000 and "latest" in model["aliases"]
        assert model["max_tokens"] == 1024
        health = c.get("/health").json()
        assert health["model"] == "twin-v0001" and health["base_model"] == "SmolLM2-135M-Instruct"
        assert health["limits"]["max_tokens"] == 1024

        for name in ("latest", "twin-v0001", "llm-twin"):
            request = {"model": name, "messages": [{"role": "user", "content": QUESTION}], "max_tokens": 32}
            reply = c.post("/v1/chat/completions", json=request)
            assert reply.status_code == 200, reply.text
            assert reply.json()["model"] == "twin-v0001"
        other = c.post("/v1/chat/completions", json={**request, "model": "SmolLM2-135M-Instruct"})
        assert other.status_code == 404 and "'twin-v0001'" in other.json()["error"]["message"]
        assert c.get("/health").json()["limits"]["context_tokens"] == 8192  # known once the model is loaded


# A Korean conversation whose earlier turns alone fill the model's context (~2 tokens a character).
LONG_TURN = "데비안 아카이브는 하루에 두 번 갱신되고 미러는 몇 시간 안에 따라잡는다. " * 150


def test_quoted_answers_are_not_refused_for_a_prompt_no_model_reads():
    app = create_app(load_settings(RAG_ANSWER_MODE="extractive", RAG_HISTORY_CHARS=100_000), llm=local_llm())
    history = [{"role": "user", "content": LONG_TURN}, {"role": "assistant", "content": LONG_TURN}]
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=120) as c:
        load_fixture_corpus()
        messages = [*history, {"role": "user", "content": QUESTION}]
        body = c.post("/v1/chat/completions", json={"messages": messages, "max_tokens": 128})
        assert body.status_code == 200, body.text[:300]
        assert "[1]" in body.json()["choices"][0]["message"]["content"]


def test_a_prompt_too_long_for_the_model_leaves_out_old_turns_then_the_last_passages():
    from llm_engineering.application.rag.pipeline import TwinRAG

    load_fixture_corpus()
    llm = local_llm()
    rag = TwinRAG(llm=llm, answer_mode="generate", history_chars=100_000)
    history = [{"role": "user", "content": LONG_TURN}, {"role": "assistant", "content": "네."}]
    full = rag.prepare(QUESTION, k=6, history=history)
    alone = rag.prepare(QUESTION, k=6)
    assert llm.prompt_tokens(full.messages) > 8192 and len(alone.retrieval.chunks) > 2
    budget = llm.prompt_tokens(alone.messages) - 1  # the history must go, and at least one passage

    fitted = rag.prepare(QUESTION, k=6, history=history, max_prompt_tokens=budget)
    assert llm.prompt_tokens(fitted.messages) <= budget
    assert fitted.left_out["history_turns"] == 1 and fitted.left_out["passages"] >= 1
    kept = fitted.retrieval.chunks
    assert [c.chunk_id for c in kept] == [c.chunk_id for c in alone.retrieval.chunks[: len(kept)]]  # the best
    assert fitted.messages[-1]["content"].endswith(QUESTION) and LONG_TURN not in str(fitted.messages)
    assert len(fitted.sources()) == len(kept)  # the sources are what the model reads
    # Quoted answers read every passage: nothing is left out for them.
    quoting = TwinRAG(llm=llm, answer_mode="extractive", history_chars=100_000)
    assert quoting.prepare(QUESTION, k=6, history=history, max_prompt_tokens=budget).left_out == {}
