"""Reading and checking the training datasets (``DatasetDict`` with train/test splits).

Instruct rows: ``prompt`` (chat messages: optional system + user) and ``completion`` (one assistant
message). Preference rows: ``prompt``, ``chosen`` and ``rejected`` (each one assistant message).
TRL's conversational prompt/completion format renders them with the tokenizer's chat template and
trains on the completion only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from llm_engineering.exceptions import LLMTwinError

INSTRUCT_COLUMNS = ("prompt", "completion")
PREFERENCE_COLUMNS = ("prompt", "chosen", "rejected")


class DatasetFormatError(LLMTwinError, ValueError):
    """The dataset lacks a column or a row is not a list of chat messages."""


class EmptyDatasetError(LLMTwinError, ValueError):
    """There is nothing to train on."""


def load_splits(dataset, *, kind: str, columns: Sequence[str], require_test: bool = False):
    """A ``DatasetDict`` from a ``save_to_disk`` folder (or one given directly), checked and trimmed
    to the columns training reads."""
    from datasets import Dataset, DatasetDict, load_from_disk

    if dataset is None or (isinstance(dataset, str) and not dataset.strip()):
        raise EmptyDatasetError(f"no {kind} dataset given")
    if isinstance(dataset, str | Path):
        path = Path(dataset)
        if not path.exists():
            raise EmptyDatasetError(f"the {kind} dataset folder {path} does not exist")
        try:
            dataset = load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as exc:
            raise DatasetFormatError(f"{path} is not a dataset saved with save_to_disk: {exc}") from None
    if isinstance(dataset, Dataset):
        dataset = DatasetDict({"train": dataset})
    if not isinstance(dataset, DatasetDict):
        raise DatasetFormatError(
            f"the {kind} dataset must be a DatasetDict or its folder, got {type(dataset).__name__}"
        )
    if "train" not in dataset:
        raise DatasetFormatError(f"the {kind} dataset has no 'train' split (splits: {list(dataset)})")
    if require_test and "test" not in dataset:
        raise DatasetFormatError(f"the {kind} dataset has no 'test' split (splits: {list(dataset)})")
    if len(dataset["train"]) == 0:
        raise EmptyDatasetError(f"the {kind} dataset's train split is empty: nothing to train on")
    out = {}
    for split, data in dataset.items():
        missing = [c for c in columns if c not in data.column_names]
        if missing:
            raise DatasetFormatError(
                f"the {kind} dataset's {split} split lacks the column(s) {', '.join(missing)} "
                f"(has: {', '.join(data.column_names)})"
            )
        if len(data):
            _check_row(data[0], columns, kind, split)
        out[split] = data.select_columns(list(columns))
    return DatasetDict(out)


def _check_row(row: dict, columns: Sequence[str], kind: str, split: str) -> None:
    for column in columns:
        value = row[column]
        ok = (
            isinstance(value, list)
            and value
            and all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in value
            )
        )
        if not ok:
            raise DatasetFormatError(
                f"the {kind} dataset's {split} column {column!r} must hold chat messages "
                "(a list of {'role': ..., 'content': ...})"
            )
        if column != "prompt" and value[-1]["role"] != "assistant":
            raise DatasetFormatError(
                f"the {kind} dataset's {split} column {column!r} must end with an assistant message"
            )


def eval_subset(dataset, max_samples: int | None):
    """The test split, cut to ``max_samples`` rows (deterministically: the first ones)."""
    test = dataset.get("test")
    if test is None or len(test) == 0:
        return None
    if max_samples is not None and max_samples >= 0 and len(test) > max_samples:
        test = test.select(range(max_samples))
    return test if len(test) else None
