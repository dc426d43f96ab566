"""Libraries' own chatter is hidden at the default level and shown at DEBUG (Hugging Face datasets'
progress bars); a library's warnings always reach the user."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import logging, sys
from llm_engineering.infrastructure.log import configure_logging
configure_logging()
# a handler that prints every record a logger lets through, as ZenML's does inside a step
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
import datasets
datasets.Dataset.from_dict({"x": list(range(5))}).map(lambda row: row)
logging.getLogger("datasets").warning("a warning from the library")
"""


def _probe(level: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "LOG_LEVEL": level, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


@pytest.mark.parametrize("level, shown", [("INFO", False), ("DEBUG", True)])
def test_library_debug_lines_and_progress_bars_follow_the_log_level(level, shown):
    stderr = _probe(level)
    assert ("Map: 100%" in stderr) is shown, stderr
    assert "datasets: a warning from the library" in stderr  # warnings always reach the user
