"""Importing any module of the project opens no connection and touches no store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import importlib, pkgutil, socket, sys, os
attempts = []
def refuse(self, *args, **kwargs):
    attempts.append(args)
    raise OSError("network access during import")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = lambda *a, **k: refuse(None, *a)
names = []
for package in ("llm_engineering", "pipelines", "steps", "tools"):
    module = importlib.import_module(package)
    names.append(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
        names.append(info.name)
print(len(names), "modules;", "attempts:", attempts)
assert not attempts, attempts
assert not os.path.exists(os.environ["DATA_DIR"]), "DATA_DIR was created at import time"
"""


def test_every_module_imports_without_network_or_stores(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DATA_DIR": str(tmp_path / "data"),
        "ZENML_CONFIG_PATH": str(tmp_path / "zenml"),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "HF_HUB_OFFLINE": "1",
        "HOME": str(tmp_path),
        "DATABASE_HOST": "mongodb://127.0.0.1:9",  # would fail loudly if anything connected
        "QDRANT_URL": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "attempts: []" in result.stdout
