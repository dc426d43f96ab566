"""ZenML steps of dataset generation."""

from steps.generate_datasets.generate import generate_instruct_datasets_step, generate_preference_datasets_step
from steps.generate_datasets.query_cleaned_documents import query_cleaned_documents

__all__ = ["generate_instruct_datasets_step", "generate_preference_datasets_step", "query_cleaned_documents"]
