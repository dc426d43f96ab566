"""Libraries' own chatter is hidden at the default level and shown at DEBUG: bm25s's debug lines
(it sets its logger to DEBUG itself) and Hugging Face datasets' progress bars."""

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
import bm25s
bm25s.BM25().index(bm25s.tokenize(["a quiet command line", "a clear one"], show_progress=False), show_progress=False)
import datasets
datasets.Dataset.from_dict({"x": list(range(5))}).map(lambda row: row)
logging.getLogger("bm25s").warning("a warning from the library")
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
    assert ("bm25s: Building index" in stderr) is shown, stderr
    assert ("Map: 100%" in stderr) is shown, stderr
    assert "bm25s: a warning from the library" in stderr  # warnings always reach the user
