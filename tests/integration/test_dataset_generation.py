"""Dataset generation end to end: cleaned documents in Qdrant local mode -> saved DatasetDicts.

The OpenAI-compatible backend talks to a real HTTP server on 127.0.0.1 (written here) that
answers with canned replies, well-formed and malformed, so every failure path is exercised
through the real client, cache and parser. The local backend runs the real SmolLM2 (slow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llm_engineering.application.dataset import (
    DatasetGenerationError,
    generate_instruct_dataset,
    generate_preference_dataset,
    load_cleaned_documents,
    load_dataset_dict,
    load_metadata,
)
from llm_engineering.application.dataset.prompts import BACKTRANSLATION_SYSTEM, SYNTHETIC_SYSTEM
from llm_engineering.domain.cleaned_documents import cleaned_class
from llm_engineering.domain.identity import content_hash, id_from
from llm_engineering.domain.ports import close_stores

ROOT = Path(__file__).resolve().parents[2]

PARAGRAPH = {
    "sourdough": "My sourdough starter taught me patience. I feed it flour and water every morning, and when the "
    "kitchen is cold it sulks for a day before it rises again. Good bread is mostly waiting, and I have learned "
    "to enjoy the waiting.",
    "hiking": "I hike the ridge trail every autumn. The first hour is always the hardest, then the body settles into "
    "a rhythm and the mind goes quiet. At the top I eat an apple and watch the fog roll out of the valley.",
    "kimchi": "저는 매년 겨울이 오기 전에 어머니와 함께 김치를 담급니다. 배추를 소금에 절이는 데만 하루가 걸리고, "
    "양념을 버무리는 날에는 온 집안에 마늘 냄새가 가득합니다. 그래도 그 하루가 일 년 중 가장 따뜻한 날입니다.",
    "bicycles": "Fixing my own bicycle changed how I ride. Once you have trued a wheel by hand you hear every small "
    "tick of the spokes, and you start to ride more gently, as if the bike could feel it.",
    "chess": "I play one slow game of chess by mail each month. Waiting a week for a move sounds absurd, but it lets "
    "me think about a single position for days, the way I never could over a board with a clock.",
}
DOCS = [
    ("articles", "Alice Kim", "Bread and patience", "sourdough"),
    ("articles", "Alice Kim", "Autumn walks", "hiking"),
    ("posts", "김민준", "겨울 준비", "kimchi"),
    ("posts", "Alice Kim", "Wheels", "bicycles"),
    ("articles", "김민준", "Chess by mail", "chess"),
]


def write_cleaned_documents(docs=DOCS) -> list:
    """The fixture documents written as cleaned documents into the test's Qdrant folder."""
    classes = {"articles": cleaned_class("articles"), "posts": cleaned_class("posts")}
    written = []
    for category, author, title, topic in docs:
        content = f"# {title}\n\n{PARAGRAPH[topic]}"
        doc = classes[category](
            document_id=id_from(category, topic),
            content=content,
            title=title,
            platform="blog",
            author_id=id_from("user", author),
            author_full_name=author,
            link=f"https://example.org/{topic}",
            content_hash=content_hash({"Content": content}),
        )
        classes[category].bulk_upsert([doc])
        written.append(doc)
    return written


SMALL = {"extracts": {"min_chars": 100, "max_chars": 2000}, "test_size": 0.25, "seed": 3}

# ---- a canned OpenAI-compatible server --------------------------------------------------------

PAIR = {
    "sourdough": [
        {"instruction": "How do you care for a sourdough starter?", "answer": PARAGRAPH["sourdough"][:160]},
        {
            "instruction": "What has bread taught you?",
            "answer": "Mostly patience: good bread is waiting, and I "
            "have learned to enjoy the waiting while the starter does its slow work.",
        },
    ],
}


def synthetic_reply(text: str) -> str:
    if "sourdough" in text:  # prose and a code fence around valid JSON
        return "Here are the pairs you asked for:\n```json\n" + json.dumps({"pairs": PAIR["sourdough"]}) + "\n```"
    if "ridge trail" in text:  # one good item, one missing its answer, one with an empty answer
        return json.dumps(
            [
                {"instruction": "Describe your autumn hikes.", "answer": PARAGRAPH["hiking"][:150]},
                {"instruction": "What do you eat at the top?"},
                {"instruction": "How does the first hour feel?", "answer": "   "},
            ]
        )
    if "김치" in text:
        return json.dumps(
            {"pairs": [{"instruction": "김장하는 날에 대해 이야기해 주세요.", "answer": PARAGRAPH["kimchi"][:90]}]},
            ensure_ascii=False,
        )
    if "bicycle" in text:  # invalid JSON (cut off)
        return '{"pairs": [{"instruction": "How did fixing your bike change'
    return ""  # chess: an empty reply


def backtranslation_reply(text: str) -> str:
    if "chess" in text:
        return "I would rather not."  # no JSON: the template writes this instruction
    if "김치" in text:
        return '{"instruction": "김장 준비에 대한 당신의 경험을 써 주세요."}'
    topic = next(t for t in PARAGRAPH if PARAGRAPH[t][:40] in text)
    return f'Sure. {{"instruction": "Write about {topic} in your own words, as you did on your blog."}}'


def plain_reply(text: str) -> str:
    if "bicycles" in text:
        return ""  # an empty rejected answer
    return "Here is a general overview of the topic, with some common tips that apply to most people."


class CannedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), CannedHandler)
        self.calls: list[dict] = []
        self.fail_on: set[str] = set()  # a request mentioning one of these words gets a 503
        self.lock = threading.Lock()


class CannedHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def _send(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            return self._send({"object": "list", "data": [{"id": "canned-model", "object": "model", "owned_by": "t"}]})
        return self._send({"error": {"message": "not found"}}, 404)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.calls.append(body)
        messages = body["messages"]
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        user = messages[-1]["content"]
        if any(word in user for word in self.server.fail_on):
            return self._send({"error": {"message": "this request failed"}}, 503)
        if system == SYNTHETIC_SYSTEM:
            text = synthetic_reply(user)
        elif system == BACKTRANSLATION_SYSTEM:
            text = backtranslation_reply(user)
        else:
            text = plain_reply(user)
        return self._send(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        )


@contextmanager
def canned_server():
    server = CannedServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def openai_backend(monkeypatch):
    """LLM_BASE_URL pointing at the canned server; get_llm() then builds the OpenAI-compatible client."""
    from llm_engineering.infrastructure.llm import get_llm
    from llm_engineering.settings import get_settings

    with canned_server() as (server, url):
        monkeypatch.setenv("LLM_BASE_URL", url)
        get_settings.cache_clear()
        get_llm.cache_clear()
        yield server
    get_llm.cache_clear()
    get_settings.cache_clear()


def rows(dataset_dict) -> list[dict]:
    return [row for split in ("train", "test") for row in dataset_dict[split]]


# ---- tests --------------------------------------------------------------------------------------


def test_template_mode_builds_a_versioned_dataset_of_the_authors_own_text():
    write_cleaned_documents()
    documents = load_cleaned_documents()
    assert len(documents) == 5
    dd, report = generate_instruct_dataset(documents, {**SMALL, "instruction_writer": "template"})
    all_rows = rows(dd)
    assert len(all_rows) == 5 and report.samples == {"train": len(dd["train"]), "test": len(dd["test"])}
    assert len(dd["test"]) >= 1
    assert {r["method"] for r in all_rows} == {"template"}
    for row in all_rows:  # the answer is the author's paragraph, verbatim
        assert row["answer"] in PARAGRAPH.values()
        assert row["completion"] == [{"role": "assistant", "content": row["answer"]}]
        assert row["prompt"] == [{"role": "user", "content": row["instruction"]}]
    korean = next(r for r in all_rows if r["answer"] == PARAGRAPH["kimchi"])
    assert "겨울 준비" in korean["instruction"] and korean["author_full_name"] == "김민준"
    assert report.by_category == {"articles": 3, "posts": 2} and report.model_id is None
    # Saved: versioned folder, JSONL, metadata; the latest pointer resolves to it.
    folder = Path(report.path)
    assert folder.parent == Path(os.environ["DATA_DIR"]) / "datasets" / "instruct" and folder.name == report.version
    assert len((folder / "train.jsonl").read_text(encoding="utf-8").splitlines()) == len(dd["train"])
    assert load_dataset_dict("instruct")["train"].to_list() == dd["train"].to_list()
    assert load_metadata("instruct")["dropped"] == report.dropped
    # Same inputs and config: the same folder, reused; a config change: a new version.
    _, again = generate_instruct_dataset(documents, {**SMALL, "instruction_writer": "template"})
    assert again.reused and again.version == report.version
    _, other = generate_instruct_dataset(documents, {**SMALL, "instruction_writer": "template", "seed": 4})
    assert other.version != report.version and not other.reused
    assert load_metadata("instruct")["version"] == other.version


def test_no_documents_is_a_clear_error_and_writes_nothing():
    with pytest.raises(DatasetGenerationError, match="feature engineering"):
        generate_instruct_dataset([], {"instruction_writer": "template"})
    write_cleaned_documents()
    with pytest.raises(DatasetGenerationError, match="authors="):
        generate_instruct_dataset(load_cleaned_documents(), {"authors": ["Nobody"], "instruction_writer": "template"})
    assert not (Path(os.environ["DATA_DIR"]) / "datasets").exists()


def test_synthetic_mode_through_an_openai_compatible_server(openai_backend):
    write_cleaned_documents()
    documents = load_cleaned_documents()
    config = {**SMALL, "mode": "synthetic", "pairs_per_extract": 3}
    dd, report = generate_instruct_dataset(documents, config)
    assert len(openai_backend.calls) == 5 and report.model_id == "canned-model"
    assert {c["model"] for c in openai_backend.calls} == {"canned-model"}
    # Good items survive next to bad ones of the same reply; each bad one is counted by reason.
    instructions = sorted(r["instruction"] for r in rows(dd))
    assert instructions == sorted(
        [
            "How do you care for a sourdough starter?",
            "What has bread taught you?",
            "Describe your autumn hikes.",
            "김장하는 날에 대해 이야기해 주세요.",
        ]
    )
    assert {r["method"] for r in rows(dd)} == {"synthetic"}
    assert report.generation["parse_failures"] == {
        "invalid_item": 1,
        "empty_field": 1,
        "no_json": 1,
        "empty_response": 1,
    }
    assert report.dropped["generation_failed"] == 4
    # A re-run asks the server nothing and gives the same dataset.
    dd2, report2 = generate_instruct_dataset(documents, {**config, "reuse_existing": False})
    assert len(openai_backend.calls) == 5
    assert report2.generation["cache_hits"] == 5 and report2.generation["model_calls"] == 0
    assert dd2["train"].to_list() == dd["train"].to_list() and dd2["test"].to_list() == dd["test"].to_list()


def test_backtranslation_and_preference_through_an_openai_compatible_server(openai_backend):
    write_cleaned_documents()
    documents = load_cleaned_documents()
    dd, report = generate_instruct_dataset(documents, {**SMALL, "instruction_writer": "auto"})
    by_answer = {r["answer"]: r for r in rows(dd)}
    assert set(by_answer) == set(PARAGRAPH.values())  # every answer is the author's own text
    assert by_answer[PARAGRAPH["kimchi"]]["instruction"] == "김장 준비에 대한 당신의 경험을 써 주세요."
    assert by_answer[PARAGRAPH["chess"]]["method"] == "template"  # the model gave no JSON: template fallback
    assert report.by_method == {"backtranslation": 4, "template": 1}
    assert report.generation["parse_failures"] == {"no_json": 1, "template_fallback": 1}

    calls_before = len(openai_backend.calls)
    pdd, preport = generate_preference_dataset(documents, {**SMALL, "instruction_writer": "auto"})
    # Instructions come from the cache; only the rejected answers are new requests.
    assert len(openai_backend.calls) == calls_before + 5
    triples = rows(pdd)
    assert len(triples) == 4 and preport.dropped["rejected_empty"] == 1
    for row in triples:
        assert row["chosen"][0]["content"] in PARAGRAPH.values()
        assert row["rejected"][0]["content"].startswith("Here is a general overview")
        assert row["prompt"][-1] == {"role": "user", "content": row["instruction"]}
    assert set(pdd["train"].column_names) == {
        "prompt",
        "chosen",
        "rejected",
        "instruction",
        "method",
        "category",
        "author_full_name",
        "document_id",
    }


def test_a_failing_server_is_retried_then_counted_without_losing_the_other_requests():
    from llm_engineering.infrastructure.llm.openai_backend import OpenAICompatibleLLM

    write_cleaned_documents()
    documents = load_cleaned_documents()
    with canned_server() as (server, url):
        server.fail_on = {"chess"}
        factory = lambda model_id: OpenAICompatibleLLM(url, model_id=model_id, max_retries=2)
        config = {**SMALL, "mode": "synthetic"}
        dd, report = generate_instruct_dataset(documents, config, llm_factory=factory)
        chess_calls = sum("chess" in c["messages"][-1]["content"] for c in server.calls)
        back = {**SMALL, "instruction_writer": "llm"}
        bdd, breport = generate_instruct_dataset(documents, back, llm_factory=factory)
    # Back-translation: the failed request falls back to a template instruction; nothing is lost.
    assert breport.generation["llm_errors"] == 1 and breport.by_method == {"backtranslation": 4, "template": 1}
    assert len(rows(bdd)) == 5 and all(v > 0 for v in breport.dropped.values())
    assert chess_calls == 4  # tried twice (the backend's retry) in its batch, then twice alone
    assert report.generation["llm_errors"] == 1 and report.dropped["llm_errors"] == 1
    assert len(rows(dd)) == 4  # the four other extracts still gave their samples


@pytest.mark.slow
def test_both_modes_and_preference_with_the_local_model():
    from fixtures.rag.support import local_llm

    llm = local_llm()
    write_cleaned_documents(DOCS[:3])
    documents = load_cleaned_documents()
    factory = lambda model_id: llm
    tiny = {"batch_size": 4, "concurrency": 1}
    synthetic = {
        **SMALL,
        "mode": "synthetic",
        "pairs_per_extract": 1,
        "max_extracts": 2,
        "synthetic_generation": {**tiny, "max_tokens": 48},
    }
    dd, report = generate_instruct_dataset(documents, synthetic, llm_factory=factory)
    assert report.model_id == llm.model_id and report.generation["model_calls"] == 2
    produced = len(rows(dd))
    # Each of the two replies gave its pair (kept or filtered) or a counted parse failure.
    assert produced + sum(report.dropped.values()) - report.dropped.get("decontaminated_moved_to_train", 0) >= 2
    assert set(dd["train"].column_names) >= {"prompt", "completion", "method"}

    back = {**SMALL, "instruction_writer": "llm", "instruction_generation": {**tiny, "max_tokens": 32}}
    dd, report = generate_instruct_dataset(documents, back, llm_factory=factory)
    assert {r["answer"] for r in rows(dd)} <= set(PARAGRAPH.values()) and len(rows(dd)) >= 2
    assert set(report.by_method) <= {"backtranslation", "template"}

    pref = {**SMALL, "instruction_writer": "template", "rejected_generation": {**tiny, "max_tokens": 16}}
    pdd, preport = generate_preference_dataset(documents, pref, llm_factory=factory)
    assert preport.generation["model_calls"] == 3 and len(rows(pdd)) >= 2
    for row in rows(pdd):
        assert row["rejected"][0]["content"].strip() and row["rejected"] != row["chosen"]

    # Without the loop guard the same request may get another reply: a new version, no cache hits.
    llm.stop_repeats = False
    try:
        _, unguarded = generate_preference_dataset(documents, pref, llm_factory=factory)
    finally:
        llm.stop_repeats = True
    assert unguarded.version != preport.version and unguarded.generation["model_calls"] == 3


def _pipeline_config(path: Path, kind: str, overrides: dict) -> Path:
    import yaml

    data = yaml.safe_load((ROOT / "configs" / f"generate_{kind}_datasets.yaml").read_text(encoding="utf-8"))
    data["parameters"]["config"].update(overrides)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.slow
def test_preference_pipeline_runs_through_zenml(tmp_path, data_dir):
    write_cleaned_documents()
    close_stores()  # local mode: one process per folder, the pipeline's now
    config = _pipeline_config(tmp_path / "preference.yaml", "preference", {**SMALL, "instruction_writer": "auto"})
    with canned_server() as (server, url):
        env = {
            **os.environ,
            "DATA_DIR": str(data_dir),
            "ZENML_CONFIG_PATH": str(tmp_path / "zenml"),
            "LLM_BASE_URL": url,
        }
        result = subprocess.run(
            [sys.executable, "-m", "tools.run", "generate_preference_datasets", "--config", str(config)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(server.calls) == 10  # five instructions, five rejected answers
    preference = load_dataset_dict("preference")
    assert len(preference["train"]) + len(preference["test"]) == 4  # the empty rejected answer was dropped
    assert load_metadata("preference")["dropped"]["rejected_empty"] == 1


def test_hub_push_needs_token_and_repo_and_never_leaks_the_token(monkeypatch, capfd):
    from datasets import DatasetDict

    from llm_engineering.settings import get_settings

    pushed = []

    def fake_push(self, repo_id, token=None, private=None):  # the Hub is unreachable here
        pushed.append((repo_id, token))
        if repo_id == "me/unreachable":
            raise ConnectionError(f"could not reach the Hub with {token}")

    monkeypatch.setattr(DatasetDict, "push_to_hub", fake_push)
    write_cleaned_documents()
    documents = load_cleaned_documents()
    config = {**SMALL, "instruction_writer": "template"}
    monkeypatch.setenv("HUGGINGFACE_ACCESS_TOKEN", "hf_secret_value_123")
    get_settings.cache_clear()
    _, report = generate_instruct_dataset(documents, config)  # a token but no repo id: nothing is pushed
    assert pushed == [] and report.pushed_to is None

    monkeypatch.setenv("DATASET_HUB_INSTRUCT_REPO_ID", "me/twin-instruct")
    get_settings.cache_clear()
    _, report = generate_instruct_dataset(documents, {**config, "seed": 5})
    assert pushed == [("me/twin-instruct", "hf_secret_value_123")] and report.pushed_to == "me/twin-instruct"
    assert load_metadata("instruct")["pushed_to"] == "me/twin-instruct"

    monkeypatch.setenv("DATASET_HUB_INSTRUCT_REPO_ID", "me/unreachable")
    get_settings.cache_clear()
    with pytest.raises(DatasetGenerationError, match="saved locally") as failure:
        generate_instruct_dataset(documents, {**config, "seed": 6})
    assert "hf_secret_value_123" not in str(failure.value)
    saved = Path(os.environ["DATA_DIR"]) / "datasets"
    for path in saved.rglob("*"):
        if path.is_file():
            assert b"hf_secret_value_123" not in path.read_bytes(), path
    out, err = capfd.readouterr()
    assert "hf_secret_value_123" not in out + err
    get_settings.cache_clear()
