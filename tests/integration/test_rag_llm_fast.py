"""The fast in-process backend (ONNX Runtime GenAI) against transformers on the real SmolLM2.

At full precision (an fp32 ONNX copy) the engine must give transformers' greedy text token for
token, so everything the client does around decoding (stops, loop guard, streaming, batching,
token counts, UTF-8) can be compared exactly. Converted copies live in the shared model cache:
each is built once per machine, not once per test run.
"""

import shutil
import sys
from pathlib import Path

import pytest
from fixtures.rag.support import local_llm

from llm_engineering.infrastructure.llm import LLMError

pytest.importorskip("onnxruntime_genai")

QUESTION = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]
LOOPING = [{"role": "user", "content": "What is the answer?\n\nThe answer is:"}]  # greedy SmolLM2 loops on this
PROMPTS = [
    QUESTION,
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Answer in one sentence."}, {"role": "user", "content": "What is an LLM twin?"}],
    [{"role": "user", "content": "Translate to Korean: Hello, how are you?"}],
]


@pytest.fixture(scope="module")
def reference():
    return local_llm()  # transformers, fp32, 1 thread


@pytest.fixture(scope="module")
def fast(reference):
    from llm_engineering.infrastructure.llm.onnx_genai import FastLocalLLM

    llm = FastLocalLLM(precision="fp32", fallback=False, threads=1)
    assert llm.backend == "onnxruntime-genai (fp32)"
    return llm


def test_full_precision_engine_gives_transformers_greedy_text(fast, reference):
    for messages in PROMPTS:
        assert fast.chat(messages, max_tokens=48) == reference.chat(messages, max_tokens=48)
    batch = fast.chat_batch(PROMPTS, max_tokens=24)
    assert batch == reference.chat_batch(PROMPTS, max_tokens=24)


def test_a_long_prompt_read_in_pieces_gives_the_same_greedy_text(fast, reference):
    from llm_engineering.infrastructure.llm.onnx_genai import PREFILL_CHUNK

    notes = "BM25 still matters. " * 40 + "벡터 검색은 의미를 찾고 BM25는 낱말을 찾습니다. " * 20
    long = [{"role": "user", "content": f"{notes}\n\nIn one sentence: why does BM25 still matter?"}]
    answer = fast.chat(long, max_tokens=24)
    assert answer.prompt_tokens > 2 * PREFILL_CHUNK
    assert answer == reference.chat(long, max_tokens=24)


def test_stream_chunks_join_to_the_whole_answer(fast):
    for messages in (PROMPTS[0], PROMPTS[1], PROMPTS[3]):  # (a loop's copies are streamed before the guard sees them)
        whole = fast.chat(messages, max_tokens=40)
        stream = fast.stream(messages, max_tokens=40)
        pieces = list(stream)
        assert len(pieces) > 3
        assert "".join(pieces) == whole.text
        assert stream.result == whole


def test_stop_strings_and_the_loop_guard_cut_where_transformers_cuts(fast, reference):
    for options in ({"stop": ["5"]}, {"stop": ["3,", "Paris"]}):
        assert fast.chat(QUESTION, max_tokens=40, **options) == reference.chat(QUESTION, max_tokens=40, **options)
        streamed = "".join(fast.stream(QUESTION, max_tokens=40, **options))
        assert streamed == reference.chat(QUESTION, max_tokens=40, **options).text
    guarded = fast.chat(LOOPING, max_tokens=60)
    assert guarded == reference.chat(LOOPING, max_tokens=60)
    assert guarded.finish_reason == "stop" and guarded.completion_tokens < 60


def test_an_answer_cut_inside_a_hangul_syllable_never_shows_half_a_character(fast, reference):
    korean = [{"role": "user", "content": "Repeat exactly: 안녕하세요"}]
    tokenizer = fast.tokenizer
    full = reference.chat(korean, max_tokens=40)
    assert any("\uac00" <= ch <= "\ud7a3" for ch in full.text)  # the answer has Hangul to cut
    ids = tokenizer(full.text, add_special_tokens=False)["input_ids"]
    cuts = [n for n in range(1, len(ids)) if tokenizer.decode(ids[:n]).endswith("\ufffd")]
    assert cuts, "no token boundary inside a syllable"
    for llm in (fast, reference):
        for n in cuts[:3]:
            cut = llm.chat(korean, max_tokens=n)
            assert "\ufffd" not in cut.text and full.text.startswith(cut.text)
            stream = llm.stream(korean, max_tokens=n)
            pieces = list(stream)
            assert not any("\ufffd" in p for p in pieces)
            assert "".join(pieces) == cut.text


def test_threads_stop_spinning_when_another_process_takes_a_core(monkeypatch, reference):
    """With LLM_ONNX_SPIN=auto the engine's threads spin only while nothing else keeps a core busy:
    once another process does, the next answer reloads the engine with sleeping threads. The
    answers stay the same."""
    import subprocess
    import time

    from llm_engineering.infrastructure.llm import onnx_genai

    monkeypatch.setattr(onnx_genai, "RECHECK_S", 0.5)
    llm = onnx_genai.FastLocalLLM(precision="fp32", fallback=False, threads=2)
    before = llm.chat(QUESTION, max_tokens=24)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        during = llm.chat(QUESTION, max_tokens=24)
        assert not llm.spinning
    finally:
        spinner.kill()
        spinner.wait()
    assert during == before == reference.chat(QUESTION, max_tokens=24)


def test_bad_input_gets_a_clear_error(fast):
    with pytest.raises(LLMError, match="max_tokens"):
        fast.chat(QUESTION, max_tokens=0)
    with pytest.raises(LLMError, match="max_tokens"):
        fast.stream(QUESTION, max_tokens=0)
    too_long = [{"role": "user", "content": "word " * 9000}]
    with pytest.raises(LLMError, match="reads at most 8192 tokens"):
        fast.chat(too_long, max_tokens=8)
    assert fast.chat(QUESTION, max_tokens=2).completion_tokens == 2  # still serving


def test_auto_serves_with_transformers_and_says_so_when_the_engine_is_missing(monkeypatch, reference):
    from loguru import logger

    from llm_engineering.infrastructure.llm import local_llm as make_client
    from llm_engineering.infrastructure.llm.local import LocalLLM

    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="INFO")
    monkeypatch.setitem(sys.modules, "onnxruntime_genai", None)  # what an install without it looks like
    try:
        llm = make_client()
    finally:
        logger.remove(sink)
    assert type(llm) is LocalLLM and llm.backend == "transformers"
    assert any("LLM backend: transformers (onnxruntime-genai is not installed)" in line for line in lines)
    monkeypatch.setenv("LLM_BACKEND", "onnxruntime")
    from llm_engineering.settings import get_settings

    get_settings.cache_clear()
    with pytest.raises(LLMError, match="needs the onnxruntime-genai package"):
        make_client()


def _model_copy(source: Path, target: Path) -> Path:
    """A model folder of hard links to ``source`` (a model of its own for the converters)."""
    target.mkdir(parents=True)
    for f in source.iterdir():
        if f.is_file():
            (target / f.name).hardlink_to(f)
    return target


def test_auto_falls_back_when_the_model_does_not_convert(tmp_path, reference):
    from loguru import logger

    from llm_engineering.infrastructure.llm.onnx_genai import FastLocalLLM

    folder = _model_copy(Path(reference._model.name_or_path), tmp_path / "odd-model")
    config = (folder / "config.json").read_text()
    (folder / "config.json").unlink()  # an architecture name the converter does not know; transformers
    (folder / "config.json").write_text(config.replace('"LlamaForCausalLM"', '"TwinLlamaForCausalLM"'))  # goes by type
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING")
    try:
        llm = FastLocalLLM(str(folder), precision="int4", fallback=True, threads=1)
        answer = llm.chat(QUESTION, max_tokens=12)
    finally:
        logger.remove(sink)
    assert llm.backend == "transformers"
    assert answer == reference.chat(QUESTION, max_tokens=12)
    assert any("LLM backend: transformers" in line and "onnxruntime-genai unavailable" in line for line in lines)


def test_a_registry_version_converts_once_when_published_and_is_reused(tmp_path, monkeypatch, reference):
    from llm_engineering.infrastructure.llm import local_llm as make_client
    from llm_engineering.model.registry import get_registry

    monkeypatch.setenv("MODEL_REGISTRY_DIR", str(tmp_path / "registry"))
    monkeypatch.setenv("LLM_ONNX_PRECISION", "int4")
    from llm_engineering.settings import get_settings

    get_settings.cache_clear()
    registry = get_registry()
    staging = registry.staging()
    _model_copy(Path(reference._model.name_or_path), staging / "model")
    version = registry.publish(staging, metrics={}, config={})
    copy = version.path / "onnx-int4"
    assert (copy / "conversion.json").is_file()  # built at publish time, inside the version
    built = (copy / "model.onnx").stat().st_mtime_ns

    llm = make_client("latest")
    assert llm.backend == "onnxruntime-genai (int4)"
    answer = llm.chat(QUESTION, max_tokens=8)
    assert answer.completion_tokens == 8
    assert (copy / "model.onnx").stat().st_mtime_ns == built  # reused, not converted again
    del llm  # (it maps the weights file damaged below)

    # a damaged copy is converted again on load, and the version keeps answering
    with open(copy / "model.onnx.data", "r+b") as data:
        data.truncate(1000)
    again = make_client("latest")
    assert again.chat(QUESTION, max_tokens=8) == answer
    assert (copy / "model.onnx.data").stat().st_size > 1000
    shutil.rmtree(version.path)


def test_the_service_names_its_backend_and_never_sends_half_a_character(fast):
    import json

    import httpx
    from fixtures.rag.support import serve_in_thread

    from llm_engineering.entrypoints.api.app import create_app
    from llm_engineering.settings import load_settings

    app = create_app(load_settings(RAG_ANSWER_MODE="generate"), llm=fast)
    korean = {"messages": [{"role": "user", "content": "Repeat exactly: 안녕하세요"}], "rag": False}
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=120) as client:
        assert client.get("/health").json()["backend"] == "onnxruntime-genai (fp32)"
        assert client.get("/v1/models").json()["data"][0]["backend"] == "onnxruntime-genai (fp32)"
        answers = []
        for n in range(4, 16):  # cuts at every token of the answer, inside syllables too
            body = client.post("/v1/chat/completions", json={**korean, "max_tokens": n}).json()
            answers.append(body["choices"][0]["message"]["content"])
            with client.stream("POST", "/v1/chat/completions", json={**korean, "max_tokens": n, "stream": True}) as r:
                events = [line[6:] for line in r.iter_lines() if line.startswith("data: ") and line != "data: [DONE]"]
            streamed = "".join(
                c["choices"][0]["delta"].get("content", "") for c in map(json.loads, events) if c["choices"]
            )
            answers.append(streamed)
        assert any("\uac00" <= ch <= "\ud7a3" for ch in answers[-1])
        assert not any("\ufffd" in a for a in answers)
        traces = client.get("/v1/traces", params={"limit": 1}).json()
        assert traces["data"][0]["backend"] == "onnxruntime-genai (fp32)"
