"""Training loss curves of the evaluated models, read from the registry's ``metrics.json`` of each
version, so that the report shows how the model it scores was trained."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loguru import logger

from llm_engineering.application.evaluation.generation import ModelRun


def registry_version_dir(model_dir: str | Path) -> Path | None:
    """The registry version folder holding ``model_dir`` (``<version>/model``), if any."""
    folder = Path(model_dir)
    for candidate in (folder.parent, folder):
        if (candidate / "manifest.json").is_file():
            return candidate
    return None


def curves_in(data: Any, path: str, out: dict[str, list[tuple[float, float]]]) -> None:
    """Every loss curve inside ``data`` (nested JSON) into ``out``, keyed by its dotted path: a list
    of ``{"step", "loss"}`` records, or a list of numbers or ``(step, loss)`` pairs under a key
    that names a loss."""
    if isinstance(data, dict):
        for key, value in data.items():
            curves_in(value, f"{path}.{key}" if path else str(key), out)
    elif isinstance(data, list) and len(data) >= 2:
        if all(isinstance(v, dict) and isinstance(v.get("loss"), (int, float)) for v in data):
            out[path] = [(float(v.get("step", i)), float(v["loss"])) for i, v in enumerate(data)]
        elif "loss" in path.lower() and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data):
            out[path] = [(float(i), float(v)) for i, v in enumerate(data)]
        elif "loss" in path.lower() and all(isinstance(v, (list, tuple)) and len(v) == 2 for v in data):
            out[path] = [(float(a), float(b)) for a, b in data]


def training_curves(runs: Sequence[ModelRun]) -> dict[str, list[tuple[float, float]]]:
    """Loss curves found in the registry's ``metrics.json`` of each evaluated version."""
    curves: dict[str, list[tuple[float, float]]] = {}
    for run in runs:
        version_dir = registry_version_dir(run.model_dir)
        metrics_file = version_dir / "metrics.json" if version_dir else None
        if metrics_file is None or not metrics_file.is_file():
            continue
        try:
            data = json.loads(metrics_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            logger.warning("unreadable {}", metrics_file)
            continue
        found: dict[str, list[tuple[float, float]]] = {}
        curves_in(data, "", found)
        curves.update({f"{run.label} {version_dir.name}: {k}": v for k, v in found.items()})
    return curves
