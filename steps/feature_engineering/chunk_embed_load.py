"""Step: chunk, embed and write the cleaned documents, window by window (resumable)."""

from typing import Annotated, Any

from zenml import log_metadata, step

from llm_engineering.application.preprocessing.features import (
    CleanedBatch,
    FeatureConfig,
    FeaturePlan,
    FeatureReport,
    embed_and_load,
)


@step(enable_cache=False)
def chunk_embed_load(
    plan: FeaturePlan, cleaned: CleanedBatch, config: dict[str, Any]
) -> Annotated[FeatureReport, "feature_report"]:
    report = embed_and_load(plan, cleaned, FeatureConfig.model_validate(config))
    log_metadata(metadata={"features": report.metadata()}, artifact_name="feature_report", infer_artifact=True)
    return report
