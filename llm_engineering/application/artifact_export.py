"""Turn loaded ZenML artifacts into JSON files (no ZenML needed here).

Pydantic models are dumped with ``model_dump(mode="json")``, so ``SecretStr`` fields come out
masked; a bare ``SecretStr`` anywhere in a container is masked too. Datasets and data frames become
lists of records. Anything else JSON cannot hold is refused with the artifact's name and type.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
import uuid
from decimal import Decimal
from pathlib import Path, PurePath
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

from llm_engineering.exceptions import LLMTwinError
from llm_engineering.files import write_json_atomic

MASK = "**********"
_UNSAFE_FILE_CHARS = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


class ArtifactExportError(LLMTwinError):
    """An artifact is missing or cannot be written as JSON; nothing was written."""


def validate_export_parameters(artifact_names: Any, output_dir: Any) -> tuple[list[str], str]:
    """The pipeline's parameters checked: a non-empty list of names and a folder path."""
    if (
        not isinstance(artifact_names, list)
        or not artifact_names
        or not all(isinstance(name, str) and name.strip() for name in artifact_names)
    ):
        raise ArtifactExportError("artifact_names must be a non-empty list of artifact names")
    if not isinstance(output_dir, str) or not output_dir.strip():
        raise ArtifactExportError("output_dir must be a folder path")
    return [name.strip() for name in artifact_names], output_dir


def to_jsonable(value: Any, where: str = "artifact") -> Any:
    """A JSON-compatible copy of ``value``; ArtifactExportError names what cannot be converted."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, (SecretStr, SecretBytes)):
        return MASK
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump(mode="json"), where)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name), f"{where}.{f.name}") for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(to_jsonable(k, where)): to_jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(item, f"{where}[{i}]") for i, item in enumerate(items)]
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, where)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, PurePath, Decimal)):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if callable(getattr(value, "to_list", None)):  # datasets.Dataset (a DatasetDict is a dict)
        return to_jsonable(value.to_list(), where)
    if type(value).__module__.startswith("pandas") and callable(getattr(value, "to_dict", None)):
        records = value.to_dict(orient="records") if hasattr(value, "columns") else value.to_dict()
        return to_jsonable(records, where)
    if callable(getattr(value, "tolist", None)):  # numpy arrays and scalars
        return to_jsonable(value.tolist(), where)
    raise ArtifactExportError(
        f"{where}: a {type(value).__module__}.{type(value).__qualname__} cannot be written as JSON"
    )


def file_name_for(artifact_name: str) -> str:
    """``<name>.json`` with path separators and control characters replaced (Hangul kept)."""
    cleaned = _UNSAFE_FILE_CHARS.sub("_", artifact_name).strip().strip(".") or "artifact"
    return f"{cleaned}.json"


def write_json_files(documents: dict[str, Any], output_dir: Path) -> list[Path]:
    """Write each ``name -> JSON-compatible value`` to ``output_dir/<name>.json`` atomically."""
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in documents.items():
        target = output_dir / file_name_for(name)
        write_json_atomic(target, data)
        written.append(target)
    return written
