"""Step: the cleaned documents dataset generation reads (from the vector store)."""

from typing import Annotated

from zenml import log_metadata, step

from llm_engineering.application.dataset import load_cleaned_documents
from llm_engineering.application.preprocessing.features import FeatureReport
from llm_engineering.domain.cleaned_documents import CleanedDocument


@step
def query_cleaned_documents(
    categories: list[str] | None = None,
    authors: list[str] | None = None,
    feature_report: FeatureReport | None = None,
) -> Annotated[list[CleanedDocument], "cleaned_documents"]:
    # ``feature_report`` (the newest feature run's, when ZenML has one) is this step's input so the run
    # graph shows where the documents come from; the vector store it describes is what is read.
    documents = load_cleaned_documents(categories or (), authors or ())
    by_category: dict[str, int] = {}
    for doc in documents:
        by_category[str(doc.category)] = by_category.get(str(doc.category), 0) + 1
    log_metadata(
        metadata={"documents": len(documents), "by_category": by_category},
        artifact_name="cleaned_documents",
        infer_artifact=True,
    )
    return documents
