"""Local model registry: one folder per trained version, published atomically.

Layout of a version folder (``MODEL_REGISTRY_DIR/v0003``)::

    model/          merged model (safetensors) + tokenizer with its chat template
    onnx-int8/      the same model converted for the fast backend (LLM_BACKEND; docs/inference.md),
                    built at publish time when ONNX Runtime GenAI is installed, else on first use
    adapters/       one LoRA adapter per stage (sft/, dpo/; absent after full fine-tuning)
    metrics.json    loss curves, eval loss, tokens/s per stage
    config.json     the training configuration that produced it
    manifest.json   written last: version, base model, stages, creation time

A version is built in a hidden staging folder and renamed into place only when complete, so
``latest()`` never returns a half-written model.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loguru import logger

from llm_engineering.files import write_json_atomic
from llm_engineering.model.onnx import convert_to_onnx
from llm_engineering.settings import get_settings

_VERSION = re.compile(r"^v(\d{4,})$")


@dataclass(frozen=True)
class ModelVersion:
    version: str
    path: Path

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def adapter_dir(self) -> Path:
        return self.path / "adapters"

    @property
    def metrics(self) -> dict[str, Any]:
        return json.loads((self.path / "metrics.json").read_text(encoding="utf-8"))

    @property
    def config(self) -> dict[str, Any]:
        return json.loads((self.path / "config.json").read_text(encoding="utf-8"))

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.path / "manifest.json").read_text(encoding="utf-8"))


class ModelRegistry:
    def __init__(self, root: Path):
        self.root = Path(root)

    def versions(self) -> list[ModelVersion]:
        """Complete versions, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for child in self.root.iterdir():
            match = _VERSION.match(child.name)
            if match and (child / "manifest.json").is_file():
                found.append((int(match.group(1)), ModelVersion(child.name, child)))
        return [v for _, v in sorted(found, key=lambda item: item[0])]

    def latest(self) -> ModelVersion | None:
        versions = self.versions()
        return versions[-1] if versions else None

    def get(self, version: str) -> ModelVersion:
        path = self.root / version
        if not (path / "manifest.json").is_file():
            raise KeyError(f"no model version {version!r} in {self.root}")
        return ModelVersion(version, path)

    def staging(self) -> Path:
        """A fresh hidden folder to build a version in (pass it to :meth:`publish`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        staging.chmod(0o755)
        return staging

    def publish(self, staging: Path, *, metrics: dict, config: dict, manifest: dict | None = None) -> ModelVersion:
        """Write the JSON files into ``staging`` and rename it to the next version number."""
        from filelock import FileLock

        staging = Path(staging)
        if not (staging / "model" / "config.json").is_file():
            raise ValueError(f"{staging} holds no model/ folder; nothing to publish")
        write_json_atomic(staging / "metrics.json", metrics, default=str)
        write_json_atomic(staging / "config.json", config, default=str)
        _convert_for_serving(staging)
        with FileLock(str(self.root / ".publish.lock"), timeout=60):
            numbers = [int(m.group(1)) for c in self.root.iterdir() if (m := _VERSION.match(c.name))]
            version = f"v{(max(numbers) + 1) if numbers else 1:04d}"
            write_json_atomic(
                staging / "manifest.json",
                {"version": version, "created_at": datetime.now(UTC).isoformat(), **(manifest or {})},
                default=str,
            )
            # The version's name is known only under the lock, so the staging folder cannot be a
            # files.staged_folder of it; and a version is never replaced, only added.
            os.replace(staging, self.root / version)
        return ModelVersion(version, self.root / version)

    def discard(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)


def _convert_for_serving(staging: Path) -> None:
    """Build the fast backend's copy of the model inside the version, so serving it never waits for
    a conversion. A failure is logged and publishing goes on: the copy is tried again on first use,
    and ``LLM_BACKEND=auto`` serves with transformers if it still fails."""
    settings = get_settings()
    model = staging / "model"
    if settings.LLM_BACKEND == "transformers" or importlib.util.find_spec("onnxruntime_genai") is None:
        return
    if not any(model.glob("*.safetensors")):
        return
    precision = settings.LLM_ONNX_PRECISION
    try:
        convert_to_onnx(model, staging / f"onnx-{precision}", precision)
    except Exception as exc:
        logger.warning("the new version is published without its ONNX copy ({}); it is converted on first use", exc)


def registry_dir() -> Path:
    settings = get_settings()
    return settings.MODEL_REGISTRY_DIR or settings.DATA_DIR / "models" / "registry"


def get_registry() -> ModelRegistry:
    """The registry in ``MODEL_REGISTRY_DIR`` (cheap; built on each call so settings changes apply)."""
    return ModelRegistry(registry_dir())


def latest() -> ModelVersion | None:
    return get_registry().latest()
