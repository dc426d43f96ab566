"""What a user sees while a job runs: the log level, library warnings and progress on long loops."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from loguru import logger

from llm_engineering.infrastructure.log import progress

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import warnings
from loguru import logger
from llm_engineering.infrastructure.log import configure_logging
print("level", configure_logging())
logger.debug("a detail for developers")
logger.info("a line for users")
warnings.warn("this will change in a future version", FutureWarning)
warnings.warn("an actionable problem", UserWarning)
"""


def _probe(level: str | None) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    if level is not None:
        env["LOG_LEVEL"] = level
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_info_by_default_hides_debug_lines_and_library_future_warnings():
    quiet = _probe(None)
    assert quiet.returncode == 0, quiet.stderr
    assert "level INFO" in quiet.stdout
    assert "a line for users" in quiet.stderr and "an actionable problem" in quiet.stderr
    assert "a detail for developers" not in quiet.stderr and "FutureWarning" not in quiet.stderr
    verbose = _probe("debug")
    assert "level DEBUG" in verbose.stdout
    assert "a detail for developers" in verbose.stderr and "FutureWarning" in verbose.stderr


def test_an_invalid_log_level_is_one_clear_error():
    done = _probe("loud")
    assert done.returncode != 0
    assert "LOG_LEVEL" in done.stderr and "must be one of TRACE, DEBUG, INFO" in done.stderr and "'loud'" in done.stderr


def test_off_a_terminal_a_slow_loop_still_logs_a_line_every_few_seconds():
    lines: list[str] = []
    handler = logger.add(lambda m: lines.append(m.record["message"]), level="DEBUG")
    try:
        with progress(3, "answers", unit="answer", every_s=1.0, interactive=False) as bar:
            time.sleep(2.5)  # one long batch: no item finishes, yet the log is not silent
            bar.update(3)
    finally:
        logger.remove(handler)
    assert any(line.startswith("answers: 0/3, 0.00 answer/s") for line in lines), lines
    assert lines[-1].startswith("answers: 3/3 done, ") and "answer/s" in lines[-1]


def test_on_a_terminal_a_bar_shows_items_per_second(capsys):
    with progress(4, "rejected answers", unit="reply", interactive=True) as bar:
        for _ in range(4):
            time.sleep(0.15)  # tqdm redraws at most every 0.1 s
            bar.update()
    err = capsys.readouterr().err
    assert "rejected answers" in err and "4/4" in err and "reply/s" in err


def test_an_empty_loop_shows_nothing():
    lines: list[str] = []
    handler = logger.add(lambda m: lines.append(m.record["message"]), level="DEBUG")
    try:
        with progress(0, "nothing", interactive=False):
            pass
    finally:
        logger.remove(handler)
    assert lines == []


def test_a_quiet_stage_still_logs_that_it_is_running():
    from llm_engineering.infrastructure.log import heartbeat

    lines: list[str] = []
    handler = logger.add(lambda m: lines.append(m.record["message"]), level="INFO")
    try:
        with heartbeat("training", quiet_s=1.5):
            time.sleep(0.8)
            assert lines == []  # not before the quiet time
            time.sleep(1.7)
    finally:
        logger.remove(handler)
    assert lines and lines[0].startswith("training: still running, ")
