"""The evaluating pipeline through ZenML in a subprocess: it writes the report, links it as artifact
metadata, and a bad configuration stops it with a clear message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MODEL_CACHE = Path(os.environ.get("LLM_TWIN_TEST_MODEL_CACHE", Path(tempfile.gettempdir()) / "llm_twin_test_models"))


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LLM_BASE_URL", "QDRANT_URL", "DATABASE_HOST")}
    env.update(
        DATA_DIR=str(tmp_path / "data"),
        ZENML_CONFIG_PATH=str(tmp_path / "zenml"),
        ZENML_ANALYTICS_OPT_IN="false",
        MODEL_CACHE_DIR=str(MODEL_CACHE),
        TORCH_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    return env


def _config(tmp_path: Path, evaluation: dict) -> Path:
    data = yaml.safe_load((ROOT / "configs" / "evaluating.yaml").read_text(encoding="utf-8"))
    data["parameters"]["evaluation"].update(evaluation)
    path = tmp_path / "evaluating.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _run(tmp_path: Path, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.run", "evaluating", "--config", str(config)],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
    )


def _publish_damaged_version(tmp_path: Path) -> Path:
    """A registry version whose weights are the base model's plus noise (clearly worse)."""
    script = (
        "import torch\n"
        "from llm_engineering.model.loading import load_causal_lm\n"
        "from llm_engineering.model.registry import get_registry\n"
        "model, tokenizer = load_causal_lm(None)\n"
        "g = torch.Generator().manual_seed(0)\n"
        "with torch.no_grad():\n"
        "    for layer in model.model.layers:\n"
        "        w = layer.mlp.down_proj.weight\n"
        "        w.add_(torch.randn(w.shape, generator=g) * 0.03)\n"
        "registry = get_registry()\n"
        "staging = registry.staging()\n"
        "model.save_pretrained(staging / 'model')\n"
        "tokenizer.save_pretrained(staging / 'model')\n"
        "print(registry.publish(staging, metrics={'sft': {'loss_curve': [{'step': 1, 'loss': 2.0}, "
        "{'step': 2, 'loss': 1.5}]}}, config={}).path)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_pipeline_writes_and_links_the_report_then_the_gate_fails_the_run(tmp_path):
    version = _publish_damaged_version(tmp_path)
    dataset = tmp_path / "tiny.json"
    items = [
        {"id": "a", "instruction": "What is a vector database?", "answer": "A store that searches by meaning."},
        {"id": "b", "instruction": "임베딩이란 무엇인가요?", "answer": "텍스트를 숫자 벡터로 바꾼 것입니다."},
    ]
    dataset.write_text(json.dumps({"test": items}, ensure_ascii=False), encoding="utf-8")
    config = _config(
        tmp_path,
        {
            "models": [
                {"label": "base", "model_id": ""},
                {"label": "tuned", "model_id": "latest"},
                {"label": "base-again", "model_id": ""},  # same weights as base: evaluated once
            ],
            "dataset": str(dataset),
            "sample_limit": 2,
            "generation": {"max_new_tokens": 12, "batch_size": 2},
            "metrics": {"judge": False, "pairwise": False},
            "gate": {"rules": [{"metric": "loss", "max_regression": 0.0}]},
            "review": {"items": 2},
            "run_name": "pipeline-test",
        },
    )
    done = _run(tmp_path, config)
    assert done.returncode != 0
    assert "regression gate failed: loss: significantly worse by" in done.stderr
    folder = version / "evaluations" / "pipeline-test"  # beside the evaluated registry version
    assert (folder / "report.html").is_file() and (folder / "review.csv").is_file()
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert [m["label"] for m in report["models"]] == ["base", "tuned"]
    assert report["gate"]["status"] == "failed"
    assert any("not evaluated twice" in note for note in report["notes"])

    probe = (
        "from zenml.client import Client\n"
        "run = Client().get_pipeline('evaluating').last_run\n"
        "meta = run.steps['write_evaluation_report'].outputs['evaluation_report'][0].run_metadata\n"
        "print(run.status, meta['report_html'], meta['gate'])\n"
    )
    read = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=300
    )
    assert read.returncode == 0, read.stderr[-2000:]
    assert "failed" in read.stdout and f"file://{folder / 'report.html'}" in read.stdout


def test_bad_configuration_stops_the_pipeline_with_a_clear_message(tmp_path):
    config = _config(tmp_path, {"gate": {"rules": [{"metric": "vibes"}]}})
    done = _run(tmp_path, config)
    assert done.returncode == 2
    assert "unknown gate metric 'vibes'" in done.stderr
    assert "Traceback" not in done.stderr
