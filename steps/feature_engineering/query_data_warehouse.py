"""Step: which warehouse documents need features built, and which features are gone."""

from typing import Annotated, Any

from zenml import log_metadata, step

from llm_engineering.application.preprocessing.features import FeatureConfig, FeaturePlan, plan_features


@step(enable_cache=False)
def query_data_warehouse(config: dict[str, Any]) -> Annotated[FeaturePlan, "feature_plan"]:
    plan = plan_features(FeatureConfig.model_validate(config))
    log_metadata(
        metadata={
            "model_id": plan.model_id,
            "to_process": {p.category: len(p.to_process) for p in plan.categories},
            "unchanged": {p.category: p.unchanged for p in plan.categories},
            "deleted": {p.category: len(p.deleted_documents) for p in plan.categories},
            "chunking": {p.category: {"size": p.chunk_size, "overlap": p.chunk_overlap} for p in plan.categories},
        },
        artifact_name="feature_plan",
        infer_artifact=True,
    )
    return plan
