"""Step: DPO on the preference dataset, starting from the SFT model."""

from pathlib import Path
from typing import Annotated, Any

from datasets import DatasetDict
from zenml import log_metadata, step

from llm_engineering.model.finetuning.common import StageResult
from llm_engineering.model.finetuning.twin import TrainingConfig, dpo_stage


@step(enable_cache=False)
def train_dpo(
    sft_result: dict,
    preference_dataset: str,
    training: dict[str, Any] | None = None,
    preference_datasets: DatasetDict | None = None,
) -> Annotated[dict, "dpo_result"]:
    # ``preference_dataset``: the folder the pipeline resolved (what is read);
    # ``preference_datasets``: its ZenML artifact, an input for the run graph only.
    config = TrainingConfig.from_dict(training)
    result = dpo_stage(Path(preference_dataset), StageResult.from_dict(sft_result), config)
    metrics = result.metrics
    log_metadata(
        metadata={
            "dpo": {
                "global_step": metrics["global_step"],
                "train_loss": metrics["train_loss"],
                **(metrics.get("eval_rewards") or {}),
            }
        },
        artifact_name="dpo_result",
        infer_artifact=True,
    )
    return result.to_dict()
