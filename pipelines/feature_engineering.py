"""The feature pipeline: warehouse → clean → chunk → embed → Qdrant, incremental and resumable.

Run: ``python -m tools.run feature_engineering`` (parameters in configs/feature_engineering.yaml).
A second run with nothing changed in the warehouse embeds nothing.
"""

from typing import Any

from zenml import pipeline

from llm_engineering.application.preprocessing.features import FeatureConfig
from llm_engineering.exceptions import ConfigurationError
from pipelines._flow import name_run
from steps.feature_engineering import chunk_embed_load, clean_documents, query_data_warehouse


def feature_config(**parameters: Any) -> dict[str, Any]:
    """Validated parameters as a plain dict (a bad or unknown one stops the run before any step)."""
    unknown = sorted(set(parameters) - set(FeatureConfig.model_fields))
    if unknown:
        raise ConfigurationError(f"unknown feature parameters {unknown}; known: {sorted(FeatureConfig.model_fields)}")
    given = {k: v for k, v in parameters.items() if v is not None}
    return FeatureConfig.model_validate(given).model_dump(mode="json")


@pipeline
def feature_engineering(
    authors: list[str] | None = None,
    categories: list[str] | None = None,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    chunking: dict[str, dict[str, int]] | None = None,
    batch_size: int | None = None,
    show_progress: bool = True,
) -> None:
    config = feature_config(
        authors=authors,
        categories=categories,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        chunking=chunking,
        batch_size=batch_size,
        show_progress=show_progress,
    )
    name_run("features")
    add_feature_steps(config)


def add_feature_steps(config: dict[str, Any], after: list[str] | None = None) -> None:
    """The three feature steps, inside the pipeline being defined (``after``: invocation ids to wait for)."""
    plan = query_data_warehouse(config, after=after)
    cleaned = clean_documents(plan)
    chunk_embed_load(plan, cleaned, config)
