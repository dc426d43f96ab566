"""The instruction-dataset pipeline: cleaned documents -> instruction/answer pairs (train/test).

Run: ``poe run-generate-instruct-datasets-pipeline`` (``python -m tools.run generate_instruct_datasets``)
with ``configs/generate_instruct_datasets.yaml``.
"""

from typing import Any

from zenml import pipeline

from llm_engineering.application.dataset.generate import InstructDatasetConfig, parse_config
from pipelines._flow import feature_report_artifact, join_twin_model
from steps.generate_datasets import generate_instruct_datasets_step, query_cleaned_documents


@pipeline
def generate_instruct_datasets(config: Any = None) -> None:
    # Checked before any step runs, so a bad config stops at once with a message naming the field.
    checked = parse_config(InstructDatasetConfig, config)
    join_twin_model("instruct", opens=True)
    documents = query_cleaned_documents(
        categories=checked.categories, authors=checked.authors, feature_report=feature_report_artifact()
    )
    generate_instruct_datasets_step(cleaned_documents=documents, config=checked.model_dump(mode="json"))
