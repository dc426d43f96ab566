"""The command lines as a user runs them: bad input is one clear line on stderr and a non-zero exit,
before any work; an answer prints as text with its sources (JSON on request), log lines only at the
chosen level, and the command exits cleanly with every client closed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.rag.support import load_fixture_corpus

from llm_engineering.domain.ports import close_stores
from llm_engineering.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "Which option does Maxime enable?"


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TORCH_NUM_THREADS": "1", **(env or {})},
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_an_unknown_pipeline_is_refused_with_every_accepted_name():
    line = one_error_line(run("tools.run", "no_such_pipeline"))
    assert "unknown pipeline 'no_such_pipeline'" in line
    from tools.run import available_pipelines

    assert all(name in line for name in ["end-to-end", *available_pipelines()])


@pytest.mark.parametrize("name", ["end_to_end", "End-To-End", "end-to-end"])
def test_the_main_job_is_accepted_with_underscores_or_hyphens(tmp_path, name):
    config = tmp_path / "end_to_end.yaml"
    config.write_text("stages: []\n")
    line = one_error_line(run("tools.run", name, "--config", str(config)))
    assert "must list `stages:`" in line  # the main job read its config: the name was accepted


def test_a_pipeline_config_with_an_unknown_key_names_it_and_the_nearest_accepted_key(tmp_path):
    config = tmp_path / "features.yaml"
    config.write_text("enable_cach: false\nparameters:\n  authors: []\n")
    line = one_error_line(run("tools.run", "feature-engineering", "--config", str(config)))
    assert "features.yaml: unknown key enable_cach; accepted: " in line and "parameters" in line
    assert line.endswith("; did you mean enable_cache?")


def test_a_stage_with_an_unknown_key_stops_the_main_job_before_it_starts(tmp_path):
    config = tmp_path / "end_to_end.yaml"
    config.write_text("stages:\n  - pipeline: training\n    overides: {parameters: {}}\n")
    line = one_error_line(run("tools.run", "end-to-end", "--config", str(config)))
    assert "stage 0 (training): unknown key overides; accepted: pipeline, config, overrides" in line
    assert line.endswith("; did you mean overrides?")
    config.write_text("stage:\n  - pipeline: training\n")
    line = one_error_line(run("tools.run", "end-to-end", "--config", str(config)))
    assert line.endswith("end_to_end.yaml: unknown key stage; accepted: stages; did you mean stages?")
    config.write_text("- pipeline: training\n")  # a list, not a mapping
    assert "must list `stages:`" in one_error_line(run("tools.run", "end-to-end", "--config", str(config)))


@pytest.mark.parametrize(
    "argv",
    [
        ("tools.run", "end-to-end"),
        ("tools.rag", "ask", "hello"),
        ("tools.ml_service", "call", "hello"),
        ("tools.data_warehouse", "export"),
        ("tools.zenml_server", "status"),
    ],
    ids=lambda argv: argv[0],
)
def test_a_log_level_that_does_not_exist_is_one_line(argv):
    line = one_error_line(run(*argv, env={"LOG_LEVEL": "chatty"}))
    assert "LOG_LEVEL: must be one of TRACE, DEBUG, INFO, SUCCESS, WARNING, ERROR, CRITICAL (got 'chatty')" in line


@pytest.fixture
def corpus(monkeypatch):
    """The fixture corpus in qdrant-client's local mode, whose client used to fail at interpreter
    exit ("Exception ignored in: QdrantClient.__del__"); released so the command can open it."""
    monkeypatch.setenv("QDRANT_EMBEDDED", "local")
    get_settings.cache_clear()
    load_fixture_corpus()
    close_stores()


@pytest.mark.slow
def test_ask_prints_the_answer_and_its_sources_then_exits_cleanly(corpus):
    text = run("tools.rag", "ask", QUESTION, "--max-tokens", "16", env={"LOG_LEVEL": "INFO"})
    assert text.returncode == 0, text.stderr
    for noise in ("Exception ignored", "Traceback", "Loading weights", "FutureWarning", " DEBUG "):
        assert noise not in text.stderr, text.stderr

    shown = run("tools.rag", "ask", QUESTION, "--max-tokens", "16", "--json", env={"LOG_LEVEL": "DEBUG"})
    assert shown.returncode == 0, shown.stderr
    assert "Loading weights" in shown.stderr  # at DEBUG the libraries' own progress is shown again
    assert "Exception ignored" not in shown.stderr
    body = json.loads(shown.stdout)
    assert body["sources"] and body["answer"].strip()

    lines = text.stdout.splitlines()
    assert lines[0].strip() and not lines[0].lstrip().startswith("{")
    heading = next(i for i, line in enumerate(lines) if line.startswith("Sources"))
    listed = [line.strip() for line in lines[heading + 1 :] if line.strip()]
    documents = list(dict.fromkeys((s["title"], s["link"]) for s in body["sources"]))
    assert listed == [f"{n}. {title} - {link}" for n, (title, link) in enumerate(documents, 1)]
