"""The pipeline runner's command line: help, and clear errors for bad requests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    from tools.run import available_pipelines

    names = available_pipelines()
    if not names:
        return
    result = run_cli(names[0], "--config", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert "missing.yaml does not exist" in result.stderr
