"""The preference-dataset pipeline: cleaned documents -> (instruction, chosen, rejected) triples.

``chosen`` is the author's own text, ``rejected`` a generic model answer to the same instruction.
Run: ``poe run-generate-preference-datasets-pipeline`` with ``configs/generate_preference_datasets.yaml``.
"""

from typing import Any

from zenml import pipeline

from llm_engineering.application.dataset.generate import PreferenceDatasetConfig, parse_config
from pipelines._flow import feature_report_artifact, join_twin_model
from steps.generate_datasets import generate_preference_datasets_step, query_cleaned_documents


@pipeline
def generate_preference_datasets(config: Any = None) -> None:
    checked = parse_config(PreferenceDatasetConfig, config)
    join_twin_model("preference")
    documents = query_cleaned_documents(
        categories=checked.categories, authors=checked.authors, feature_report=feature_report_artifact()
    )
    generate_preference_datasets_step(cleaned_documents=documents, config=checked.model_dump(mode="json"))
