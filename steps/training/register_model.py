"""Step: publish the trained model to the local registry and record it as a ZenML Model version."""

from typing import Annotated, Any

from loguru import logger
from zenml import get_step_context, log_metadata, step

from llm_engineering.model.finetuning.common import StageResult
from llm_engineering.model.finetuning.twin import TrainingConfig, publish, summary
from llm_engineering.model.registry import get_registry


@step(enable_cache=False)
def register_model(
    sft_result: dict,
    dpo_result: dict | None = None,
    training: dict[str, Any] | None = None,
    fingerprint: str | None = None,
) -> Annotated[str, "model_version"]:
    config = TrainingConfig.from_dict(training)
    stages = [StageResult.from_dict(sft_result)]
    if dpo_result:
        stages.append(StageResult.from_dict(dpo_result))
    version = publish(stages, config, fingerprint=fingerprint)
    return _record(version)


@step(enable_cache=False)
def reuse_model_version(version: str) -> Annotated[str, "model_version"]:
    """The datasets and config are unchanged since ``version``: record it again instead of training."""
    found = get_registry().get(version)
    logger.info("training skipped: {} was trained from the same datasets and config", found.version)
    return _record(found)


def _record(version) -> str:
    numbers = summary(version)
    log_metadata(metadata={"registry": numbers}, artifact_name="model_version", infer_artifact=True)
    if get_step_context().model is not None:
        log_metadata(metadata={"registry": numbers}, infer_model=True)
    else:
        logger.warning("the pipeline has no ZenML model configured; only the local registry holds {}", version.version)
    return str(version.path)
