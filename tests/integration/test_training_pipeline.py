"""The training ZenML pipeline run for real, in a subprocess, as a user runs it (a few steps)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from datasets import Dataset, DatasetDict

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

READ_MODEL = """
import json
from zenml.client import Client
version = Client().get_model_version("llm_twin")
run = Client().get_pipeline("training").last_run
print(json.dumps({"model_metadata": {k: v for k, v in version.run_metadata.items()},
                  "status": str(run.status), "steps": sorted(run.steps)}, default=str))
"""


def run_training(config_file: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.run", "training", "--config", str(config_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def datasets(folder: Path) -> tuple[Path, Path]:
    instruct = [
        {
            "prompt": [{"role": "user", "content": f"질문 {i}: what colour is house {i}?"}],
            "completion": [{"role": "assistant", "content": f"House {i} is teal."}],
            "instruction": f"질문 {i}",
            "answer": f"House {i} is teal.",
            "method": "test",
            "category": "articles",
            "author_full_name": "홍길동",
        }
        for i in range(8)
    ]
    preference = [
        {
            "prompt": [{"role": "user", "content": f"Describe house {i}."}],
            "chosen": [{"role": "assistant", "content": f"House {i} is teal."}],
            "rejected": [{"role": "assistant", "content": "No idea."}],
            "instruction": f"Describe house {i}.",
            "method": "test",
            "category": "posts",
            "author_full_name": "홍길동",
        }
        for i in range(4)
    ]
    DatasetDict({"train": Dataset.from_list(instruct[:6]), "test": Dataset.from_list(instruct[6:])}).save_to_disk(
        str(folder / "instruct")
    )
    DatasetDict({"train": Dataset.from_list(preference[:3]), "test": Dataset.from_list(preference[3:])}).save_to_disk(
        str(folder / "preference")
    )
    return folder / "instruct", folder / "preference"


def test_training_pipeline_registers_a_model_version(tmp_path, data_dir, tmp_path_factory):
    instruct, preference = datasets(tmp_path)
    config = yaml.safe_load((ROOT / "configs" / "training.yaml").read_text())
    params = config["parameters"]
    params["instruct_dataset"] = str(instruct)
    params["preference_dataset"] = str(preference)
    for stage in ("sft", "dpo"):
        params["training"][stage].update(max_length=96, max_eval_samples=1, lora={"r": 4, "alpha": 8})
    params["training"]["sft"]["eval_before_training"] = False
    config_file = tmp_path / "training.yaml"
    config_file.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "ZENML_CONFIG_PATH": str(tmp_path / "zenml"),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "MODEL_CACHE_DIR": os.environ.get("MODEL_CACHE_DIR") or str(tmp_path_factory.getbasetemp() / "model_cache"),
        "TRAINING_MAX_STEPS": "1",
        "TORCH_NUM_THREADS": "1",
    }
    done = run_training(config_file, env)
    assert done.returncode == 0, done.stderr[-3000:]

    version = data_dir / "models" / "registry" / "v0001"
    assert (version / "model" / "model.safetensors").is_file()
    assert (version / "adapters" / "sft" / "adapter_config.json").is_file()
    assert (version / "adapters" / "dpo" / "adapter_config.json").is_file()
    metrics = json.loads((version / "metrics.json").read_text())
    assert metrics["sft"]["global_step"] == 1 and metrics["dpo"]["global_step"] == 1
    assert not (data_dir / "models" / "runs" / "twin").exists()  # checkpoints cleared after publishing

    read = subprocess.run([sys.executable, "-c", READ_MODEL], cwd=ROOT, env=env, capture_output=True, text=True)
    assert read.returncode == 0, read.stderr[-3000:]
    info = json.loads(read.stdout.strip().splitlines()[-1])
    assert info["steps"] == ["register_model", "train_dpo", "train_sft"]
    registry = info["model_metadata"]["registry"]
    assert registry["version"] == "v0001" and registry["sft/global_step"] == 1

    # Same datasets and config: the run reuses v0001 instead of training again.
    again = run_training(config_file, env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not (data_dir / "models" / "registry" / "v0002").exists()
    read = subprocess.run([sys.executable, "-c", READ_MODEL], cwd=ROOT, env=env, capture_output=True, text=True)
    assert json.loads(read.stdout.strip().splitlines()[-1])["steps"] == ["reuse_model_version"]


def test_training_pipeline_with_a_missing_dataset_fails_clearly(tmp_path, data_dir):
    config = yaml.safe_load((ROOT / "configs" / "training.yaml").read_text())
    config["parameters"]["instruct_dataset"] = str(tmp_path / "missing")
    config_file = tmp_path / "training.yaml"
    config_file.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "ZENML_CONFIG_PATH": str(tmp_path / "zenml"),
        "ZENML_ANALYTICS_OPT_IN": "false",
    }
    done = run_training(config_file, env)
    assert done.returncode != 0
    assert "missing" in done.stderr and "dataset" in done.stderr
    assert not (data_dir / "models" / "registry").exists()
