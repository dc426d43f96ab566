"""A ZenML materializer for Hugging Face ``DatasetDict`` (saved with ``save_to_disk``)."""

from __future__ import annotations

import os
import tempfile
from typing import Any, ClassVar

from datasets import DatasetDict, load_from_disk
from zenml.enums import ArtifactType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.utils import io_utils


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
