"""OpenMP threads (torch's) sleep while they wait unless the user chose otherwise: spinning threads
that wait for a core another process holds made generation and the reference loss several times
slower on a busy machine (docs/inference.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "import os, llm_engineering.settings; print(os.environ.get('OMP_WAIT_POLICY'))"


def _policy_after_import(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_the_project_makes_openmp_threads_sleep_while_waiting():
    assert _policy_after_import() == "PASSIVE"


@pytest.mark.parametrize("chosen", ["ACTIVE", "passive", ""])
def test_a_wait_policy_set_by_the_user_is_kept(chosen):
    assert _policy_after_import(OMP_WAIT_POLICY=chosen) == chosen
