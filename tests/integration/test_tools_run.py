"""The pipeline runner's command line: help, and clear errors for bad requests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, cwd=ROOT, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "tools.run", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
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


def test_an_invalid_log_level_stops_the_main_job_with_one_line():
    result = run_cli("end-to-end", env={**os.environ, "LOG_LEVEL": "chatty"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "LOG_LEVEL" in lines[0] and "must be one of" in lines[0], result.stderr
    assert "==>" not in result.stderr  # no stage started


def test_the_main_job_prints_each_stage_and_its_time_and_no_debug_lines(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    # a front-matter block that is not YAML: the crawler keeps it as text and says so at DEBUG level
    (notes / "post.md").write_text("---\ntitle: [unclosed\n---\n" + "A paragraph the author wrote. " * 20)
    stage = tmp_path / "etl.yaml"
    stage.write_text(
        f"parameters:\n  user_full_name: Dana Kim\n  links: ['{notes}']\n  allow_local_files: true\n  force: false\n"
    )
    job = tmp_path / "end_to_end.yaml"
    job.write_text(f"stages:\n  - pipeline: digital_data_etl\n    config: {stage}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("LOG_LEVEL", "DATABASE_HOST", "QDRANT_URL")}
    env.update(DATA_DIR=str(tmp_path / "data"), ZENML_CONFIG_PATH=str(tmp_path / "zenml"))
    result = run_cli("end-to-end", "--config", str(job), env=env, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "==> [1/1] digital_data_etl" in result.stderr
    assert re.search(r"<== \[1/1\] digital_data_etl completed in \d+\.\ds", result.stderr), result.stderr[-2000:]
    assert "DEBUG" not in output and "not YAML" not in output
    assert "Warning:" not in output  # FutureWarning, UserWarning, DeprecationWarning
