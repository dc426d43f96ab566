"""The items an evaluation scores: question, reference answer and where they came from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from llm_engineering.application.dataset.store import load_dataset_dict
from llm_engineering.exceptions import ConfigurationError


class EvalSample(BaseModel):
    id: str
    instruction: str
    reference: str
    category: str = ""
    author_full_name: str = ""
    context: list[str] = Field(default_factory=list)
    """Retrieved passages (filled when the run evaluates answers grounded in retrieval)."""
    sources: list[str] = Field(default_factory=list)
    """Links or titles of the retrieved passages, for the review sheet."""
    prompt_messages: list[dict[str, str]] | None = None
    """The exact chat messages to answer (e.g. the RAG prompt); ``None``: the question alone."""

    @property
    def key(self) -> str:
        """Content key for caches: same question and context → same key, whatever the id."""
        blob = json.dumps([self.instruction, self.context, self.prompt_messages], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):  # one chat message
        return str(value.get("content", ""))
    if isinstance(value, list) and value:  # a list of chat messages: the last one's text
        return _text(value[-1])
    return ""


def sample_from_row(row: Mapping[str, Any], index: int) -> EvalSample:
    instruction = row.get("instruction") or _text(row.get("prompt"))
    reference = row.get("answer") or row.get("output") or _text(row.get("completion"))
    if not instruction or not reference:
        raise ConfigurationError(f"evaluation row {index} has no instruction/answer (keys: {sorted(row)})")
    return EvalSample(
        id=str(row.get("id") or index),
        instruction=str(instruction),
        reference=str(reference),
        category=str(row.get("category") or ""),
        author_full_name=str(row.get("author_full_name") or ""),
    )


def samples_from_rows(rows: Iterable[Mapping[str, Any]], limit: int | None = None) -> list[EvalSample]:
    out: list[EvalSample] = []
    for i, row in enumerate(rows):
        if limit is not None and len(out) >= limit:
            break
        out.append(sample_from_row(row, i))
    return out


def load_instruct_json(path: Path, split: str = "test") -> list[dict[str, Any]]:
    """Rows of an instruct JSON export: ``{split: {category: {"samples": [...]}}}`` or ``{split: [...]}``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"cannot read evaluation dataset {path}: {exc}") from None
    if not isinstance(data, dict) or split not in data:
        raise ConfigurationError(f"{path} has no {split!r} split")
    part = data[split]
    if isinstance(part, list):
        return part
    rows: list[dict[str, Any]] = []
    for category, block in part.items():
        samples = block.get("samples", []) if isinstance(block, dict) else block
        rows.extend({"category": category, **s} for s in samples)
    return rows


def load_samples(dataset: str, split: str = "test", limit: int | None = None) -> list[EvalSample]:
    """The evaluation items: an instruct JSON file, or a dataset kind/path for ``load_dataset_dict``."""
    path = Path(dataset).expanduser()
    if path.suffix == ".json" and path.is_file():
        rows: Iterable[Mapping[str, Any]] = load_instruct_json(path, split)
    else:
        dataset_dict = load_dataset_dict(dataset)
        if split not in dataset_dict:
            raise ConfigurationError(f"dataset {dataset!r} has no {split!r} split (has {list(dataset_dict)})")
        rows = dataset_dict[split]
    samples = samples_from_rows(rows, limit)
    if not samples:
        raise ConfigurationError(f"dataset {dataset!r} split {split!r} holds no samples to evaluate")
    return samples
