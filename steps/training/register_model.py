"""Step: publish the trained model to the local registry and record it as a ZenML Model version."""

from typing import Annotated, Any

from datasets import DatasetDict
from loguru import logger
from zenml import ArtifactConfig, get_step_context, log_metadata, step
from zenml.enums import ArtifactType

from llm_engineering.model.finetuning.common import StageResult
from llm_engineering.model.finetuning.twin import TrainingConfig, publish, summary
from llm_engineering.model.registry import get_registry
from steps.training.loss_curve import LossCurves, LossCurvesMaterializer

# Defining LossCurvesMaterializer registers it for LossCurves outputs (see steps/generate_datasets/generate.py).
__all__ = ["LossCurvesMaterializer", "register_model", "reuse_model_version"]

# The registry version's folder, listed on the ZenML Model page as the model.
ModelOutput = Annotated[str, ArtifactConfig(name="model_version", artifact_type=ArtifactType.MODEL)]
CurvesOutput = Annotated[LossCurves, "training_loss_curves"]


@step(enable_cache=False)
def register_model(
    sft_result: dict,
    dpo_result: dict | None = None,
    training: dict[str, Any] | None = None,
    fingerprint: str | None = None,
) -> tuple[ModelOutput, CurvesOutput]:
    config = TrainingConfig.from_dict(training)
    stages = [StageResult.from_dict(sft_result)]
    if dpo_result:
        stages.append(StageResult.from_dict(dpo_result))
    version = publish(stages, config, fingerprint=fingerprint)
    return _record(version), LossCurves.of(version)


@step(enable_cache=False)
def reuse_model_version(
    version: str, instruct_datasets: DatasetDict | None = None, preference_datasets: DatasetDict | None = None
) -> tuple[ModelOutput, CurvesOutput]:
    """The datasets and config are unchanged since ``version``: record it again instead of training.

    The datasets' ZenML artifacts (when there are) are inputs for the run graph only.
    """
    found = get_registry().get(version)
    logger.info("training skipped: {} was trained from the same datasets and config", found.version)
    return _record(found), LossCurves.of(found)


def _record(version) -> str:
    numbers = summary(version)
    log_metadata(metadata={"registry": numbers}, artifact_name="model_version", infer_artifact=True)
    if get_step_context().model is not None:
        log_metadata(metadata={"registry": numbers}, infer_model=True)
    else:
        logger.warning("the pipeline has no ZenML model configured; only the local registry holds {}", version.version)
    return str(version.path)
