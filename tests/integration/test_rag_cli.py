"""The command-line tools as a user runs them: tools.rag evaluate/ask and tools.ml_service call."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.rag.support import QA_FILE, load_fixture_corpus, local_llm, serve_in_thread

from llm_engineering.domain.ports import close_stores

ROOT = Path(__file__).resolve().parents[2]


def run(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TORCH_NUM_THREADS": "1", **(env or {})},
    )


@pytest.fixture
def corpus():
    ids = load_fixture_corpus()
    close_stores()  # the embedded vector store: one process per folder, the tool's now
    return ids


def test_evaluate_prints_json_metrics(corpus):
    result = run("tools.rag", "evaluate", "--qa", str(QA_FILE), "--k", "1,3")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["questions"] == 6 and report["mode"] == "hybrid"
    assert set(report["recall"]) == {"@1", "@3"} and report["recall"]["@3"] == 1.0
    assert report["evidence"]["@3"] == 1.0 and 0.9 <= report["mrr"] <= 1.0


def test_evaluate_rejects_bad_input(corpus, tmp_path):
    missing = run("tools.rag", "evaluate", "--qa", str(tmp_path / "none.jsonl"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    bad_k = run("tools.rag", "evaluate", "--qa", str(QA_FILE), "--k", "1,x")
    assert bad_k.returncode == 2 and "--k" in bad_k.stderr


def test_ask_with_an_unknown_author_fails_clearly(corpus):
    result = run("tools.rag", "ask", "anything", "--author", "Nobody Known")
    assert result.returncode == 2 and "no author named 'Nobody Known'" in result.stderr
    assert "Traceback" not in result.stderr


def test_call_posts_to_a_running_service(corpus):
    from llm_engineering.entrypoints.api.app import create_app

    with serve_in_thread(create_app(llm=local_llm())) as url:
        question = ("tools.ml_service", "call", "Which option does Maxime enable?", "--url", url, "--max-tokens", "8")
        result = run(*question, "--json")
        assert result.returncode == 0, result.stderr
        body = json.loads(result.stdout)
        assert body["answer"] and body["sources"][0]["link"].startswith("https://blog.example.com/maxime/")
        text = run(*question)  # for a person: the answer, then one line per source document
        assert text.returncode == 0, text.stderr
        assert text.stdout.splitlines()[0].strip() and "Sources" in text.stdout
        assert f"1. {body['sources'][0]['title']} - {body['sources'][0]['link']}" in text.stdout
        too_many = run("tools.ml_service", "call", "x", "--url", url, "--max-tokens", "5000")
        assert too_many.returncode == 1 and "max_tokens" in too_many.stderr


def test_call_without_a_service_says_how_to_start_one():
    result = run("tools.ml_service", "call", "hello", "--url", "http://127.0.0.1:9")
    assert result.returncode == 2 and "tools.ml_service serve" in result.stderr
