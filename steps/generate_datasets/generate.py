"""Steps: build the instruction / preference dataset and return it as a ZenML artifact."""

from typing import Annotated, Any

from datasets import DatasetDict
from zenml import log_metadata, step

from llm_engineering.application.dataset import generate_instruct_dataset, generate_preference_dataset
from llm_engineering.domain.cleaned_documents import CleanedDocument
from steps.generate_datasets.materializer import DatasetDictMaterializer

# Defining DatasetDictMaterializer registers it for DatasetDict outputs in ZenML's materializer
# registry; naming it in output_materializers would need ZenML's source root at import time.
__all__ = ["DatasetDictMaterializer", "generate_instruct_datasets_step", "generate_preference_datasets_step"]


def _generate_and_log(generate, documents: list[CleanedDocument], config, artifact: str) -> tuple[DatasetDict, dict]:
    """Run one kind's generator and log its report as the dataset artifact's metadata."""
    dataset_dict, report = generate(documents, config)
    metadata = report.model_dump(mode="json")
    log_metadata(metadata={"dataset": metadata}, artifact_name=artifact, infer_artifact=True)
    return dataset_dict, metadata


@step
def generate_instruct_datasets_step(
    cleaned_documents: list[CleanedDocument], config: dict[str, Any] | None = None
) -> tuple[Annotated[DatasetDict, "instruct_datasets"], Annotated[dict, "instruct_datasets_report"]]:
    dataset_dict, report = _generate_and_log(generate_instruct_dataset, cleaned_documents, config, "instruct_datasets")
    return dataset_dict, report  # a tuple written out: ZenML reads the outputs from the return statement


@step
def generate_preference_datasets_step(
    cleaned_documents: list[CleanedDocument], config: dict[str, Any] | None = None
) -> tuple[Annotated[DatasetDict, "preference_datasets"], Annotated[dict, "preference_datasets_report"]]:
    dataset_dict, report = _generate_and_log(
        generate_preference_dataset, cleaned_documents, config, "preference_datasets"
    )
    return dataset_dict, report  # a tuple written out: ZenML reads the outputs from the return statement
