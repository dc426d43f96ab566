"""A ZenML materializer for Hugging Face ``DatasetDict`` (saved with ``save_to_disk``).

Its dashboard preview is a Markdown table: rows per split, then the first rows of each split.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, ClassVar

from datasets import DatasetDict, load_from_disk
from zenml.enums import ArtifactType, VisualizationType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.utils import io_utils

PREVIEW_ROWS = 5
PREVIEW_CHARS = 160
# The readable columns of the instruct / preference datasets; any other dataset shows its first ones.
PREVIEW_COLUMNS = ("instruction", "answer", "chosen", "rejected", "category", "author_full_name")


class DatasetDictMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (DatasetDict,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def load(self, data_type: type[Any]) -> DatasetDict:
        with tempfile.TemporaryDirectory() as folder:
            io_utils.copy_dir(self.uri, folder)
            return load_from_disk(folder, keep_in_memory=True)

    def save(self, data: DatasetDict) -> None:
        with tempfile.TemporaryDirectory() as folder:
            # One shard per split at least: an empty split saved with 0 shards cannot be read back.
            data.save_to_disk(os.path.join(folder, "data"), num_shards={split: 1 for split in data})
            io_utils.copy_dir(os.path.join(folder, "data"), self.uri)

    def extract_metadata(self, data: DatasetDict) -> dict[str, Any]:
        return {f"{split}_rows": len(rows) for split, rows in data.items()}

    def save_visualizations(self, data: DatasetDict) -> dict[str, VisualizationType]:
        path = os.path.join(self.uri, "preview.md")
        with fileio.open(path, "w") as out:
            out.write(preview_markdown(data))
        return {path.replace("\\", "/"): VisualizationType.MARKDOWN}


def preview_markdown(data: DatasetDict, rows: int = PREVIEW_ROWS) -> str:
    """Row counts per split, then the first ``rows`` rows of each split as Markdown tables."""
    lines = ["| split | rows |", "| --- | ---: |"]
    lines += [f"| {split} | {len(part)} |" for split, part in data.items()]
    for split, part in data.items():
        columns = [c for c in PREVIEW_COLUMNS if c in part.column_names] or part.column_names[:4]
        lines += ["", f"### {split}: first {min(rows, len(part))} of {len(part)}", ""]
        lines += ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
        for row in part.select(range(min(rows, len(part)))):
            lines.append("| " + " | ".join(_cell(row[c]) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    """One table cell: a chat message list shows its text; newlines and pipes cannot break the table."""
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        value = value[-1].get("content", "")
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
