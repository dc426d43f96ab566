"""Where datasets live: versioned folders, the ``latest`` pointer, loading, JSONL and the Hub.

Layout under ``DATASET_DIR`` (default ``DATA_DIR/datasets``)::

    instruct/<version>/            DatasetDict.save_to_disk (dataset_dict.json, train/, test/)
    instruct/<version>/train.jsonl one JSON object per row, every column
    instruct/<version>/test.jsonl
    instruct/<version>/metadata.json   the generation report (counts, drops, model, config)
    instruct/LATEST                the newest version's name
    preference/...                 the same for preference triples

``<version>`` is a short hash of the input documents (ids and content hashes), the
configuration and the model, so identical inputs map to the same folder and a repeated run
reuses it. A folder appears whole or not at all (written beside, then renamed).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from loguru import logger

from llm_engineering.domain.dataset import DatasetKind
from llm_engineering.exceptions import LLMTwinError
from llm_engineering.files import staged_folder, write_json_atomic, write_text_atomic
from llm_engineering.settings import get_settings

FORMAT_VERSION = "1"
LATEST = "LATEST"


class DatasetNotFoundError(LLMTwinError):
    """No generated dataset where one was asked for."""


def dataset_root(settings=None) -> Path:
    settings = settings or get_settings()
    return Path(getattr(settings, "DATASET_DIR", None) or settings.DATA_DIR / "datasets")


def dataset_version(kind: DatasetKind | str, inputs: list[tuple[str, str]], config: dict, model_id: str | None) -> str:
    """12 hex characters identifying (format, kind, inputs, configuration, model)."""
    blob = json.dumps(
        {
            "format": FORMAT_VERSION,
            "kind": str(kind),
            "inputs": sorted(inputs),
            "config": config,
            "model": model_id,
        },
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def version_dir(kind: DatasetKind | str, version: str, root: Path | None = None) -> Path:
    return (root or dataset_root()) / str(DatasetKind(kind)) / version


def is_complete(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() and (folder / "metadata.json").is_file()


def write_dataset(
    dataset_dict,
    folder: Path,
    metadata: dict[str, Any],
    export_jsonl: bool = True,
) -> Path:
    """Save ``dataset_dict`` (+ JSONL and metadata) to ``folder`` atomically; point LATEST at it."""
    with staged_folder(folder) as staging:
        # An explicit shard count: an empty split saved with the default (0 shards) cannot be read back.
        shards = {split: max(1, math.ceil(data.data.nbytes / 500_000_000)) for split, data in dataset_dict.items()}
        dataset_dict.save_to_disk(str(staging), num_shards=shards)
        if export_jsonl:
            for split, data in dataset_dict.items():
                export_jsonl_file(data, staging / f"{split}.jsonl")
        write_metadata(staging, metadata)
    set_latest(folder)
    logger.info("saved {} to {}", {k: len(v) for k, v in dataset_dict.items()}, folder)
    return folder


def write_metadata(folder: Path, metadata: dict[str, Any]) -> None:
    write_json_atomic(folder / "metadata.json", metadata, default=str)


def set_latest(folder: Path) -> None:
    write_text_atomic(folder.parent / LATEST, folder.name + "\n")


def export_jsonl_file(data, path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in data:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def resolve_dataset_path(kind_or_path: str | Path, root: Path | None = None) -> Path:
    """A dataset folder from ``instruct`` / ``preference`` (latest), ``instruct/<version>``,
    ``instruct/latest``, a version folder, or a kind folder (its latest)."""
    root = root or dataset_root()
    text = str(kind_or_path)
    kind, _, version = text.partition("/")
    if not isinstance(kind_or_path, Path) and kind in {k.value for k in DatasetKind} and "/" not in version:
        candidate = root / kind / (version if version and version.lower() != "latest" else LATEST)
    else:
        candidate = Path(text).expanduser().resolve()
    if candidate.name == LATEST or (candidate.is_dir() and (candidate / LATEST).is_file()):
        pointer = candidate if candidate.name == LATEST else candidate / LATEST
        if not pointer.is_file():
            raise DatasetNotFoundError(
                f"no {pointer.parent.name} dataset in {pointer.parent}; run the "
                f"generate_{pointer.parent.name}_datasets pipeline first"
            )
        candidate = pointer.parent / pointer.read_text(encoding="utf-8").strip()
    if not is_complete(candidate):
        raise DatasetNotFoundError(
            f"{kind_or_path!s} is not a generated dataset (expected a folder with dataset_dict.json and "
            "metadata.json, or 'instruct' / 'preference')"
        )
    return candidate


def load_dataset_dict(kind_or_path: str | Path = "instruct", root: Path | None = None):
    """The ``DatasetDict`` (train/test) of a kind's latest version, a version, or a folder."""
    from datasets import load_from_disk

    return load_from_disk(str(resolve_dataset_path(kind_or_path, root)))


def load_metadata(kind_or_path: str | Path = "instruct", root: Path | None = None) -> dict[str, Any]:
    folder = resolve_dataset_path(kind_or_path, root)
    return json.loads((folder / "metadata.json").read_text(encoding="utf-8"))


def push_to_hub(dataset_dict, repo_id: str, token) -> str:
    """Upload to the Hugging Face Hub; the token is read from its ``SecretStr`` only here."""
    secret = token.get_secret_value() if hasattr(token, "get_secret_value") else str(token)
    dataset_dict.push_to_hub(repo_id, token=secret, private=True)
    return repo_id
