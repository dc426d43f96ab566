"""Instruction and preference datasets from the author's own writing (see ``generate``)."""

from llm_engineering.application.dataset.generate import (
    DatasetGenerationError,
    InstructDatasetConfig,
    PreferenceDatasetConfig,
    generate_instruct_dataset,
    generate_preference_dataset,
    load_cleaned_documents,
)
from llm_engineering.application.dataset.store import DatasetNotFoundError, load_dataset_dict, load_metadata

__all__ = [
    "DatasetGenerationError",
    "DatasetNotFoundError",
    "InstructDatasetConfig",
    "PreferenceDatasetConfig",
    "generate_instruct_dataset",
    "generate_preference_dataset",
    "load_cleaned_documents",
    "load_dataset_dict",
    "load_metadata",
]
