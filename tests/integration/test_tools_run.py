"""The pipeline runner's command line: help, and clear errors for bad requests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "tools.run", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_help_lists_options():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "--config" in result.stdout and "--no-cache" in result.stdout


def test_unknown_pipeline_is_refused_with_the_choices():
    result = run_cli("no_such_pipeline")
    assert result.returncode == 2
    assert "unknown pipeline 'no_such_pipeline'" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file_is_named(tmp_path):
    result = run_cli("feature_engineering", "--config", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert "missing.yaml does not exist" in result.stderr


@pytest.mark.parametrize(
    "text, message",
    [
        ("stages: []", "must list `stages:`"),
        ("stages:\n  - pipeline: nowhere\n", "stage 0 names no known pipeline"),
        ("stages:\n  - pipeline: training\n    config: configs/none.yaml\n", "none.yaml does not exist"),
        ("stages:\n  - pipeline: training\n    overrides: [1]\n", "overrides must be a mapping"),
        ("stages: [", "cannot read"),
    ],
)
def test_bad_end_to_end_configs_stop_before_any_stage_runs(tmp_path, text, message):
    config = tmp_path / "end_to_end.yaml"
    config.write_text(text)
    result = run_cli("end-to-end", "--config", str(config))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_stage_overrides_merge_into_the_stage_config(tmp_path):
    import yaml

    from tools.run import _stage_config, _stages

    config = tmp_path / "end_to_end.yaml"
    config.write_text(
        "stages:\n  - pipeline: evaluating\n    config: configs/evaluating.yaml\n"
        "    overrides: {parameters: {evaluation: {sample_limit: 3, metrics: {judge: false}}}}\n"
    )
    (stage,) = _stages(config)
    merged = yaml.safe_load(_stage_config(stage, tmp_path).read_text())
    shipped = yaml.safe_load((ROOT / "configs" / "evaluating.yaml").read_text())
    evaluation = merged["parameters"]["evaluation"]
    assert evaluation["sample_limit"] == 3 and evaluation["metrics"]["judge"] is False
    assert evaluation["metrics"]["loss"] is shipped["parameters"]["evaluation"]["metrics"]["loss"]
    assert evaluation["models"] == shipped["parameters"]["evaluation"]["models"]
