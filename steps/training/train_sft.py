"""Step: supervised fine-tuning on the instruct dataset."""

from pathlib import Path
from typing import Annotated, Any

from datasets import DatasetDict
from zenml import log_metadata, step

from llm_engineering.model.finetuning.twin import TrainingConfig, sft_stage


@step(enable_cache=False)
def train_sft(
    instruct_dataset: str, training: dict[str, Any] | None = None, instruct_datasets: DatasetDict | None = None
) -> Annotated[dict, "sft_result"]:
    # ``instruct_dataset``: the folder the pipeline resolved (what is read); ``instruct_datasets``: its ZenML artifact,
    # an input for the run graph only.
    config = TrainingConfig.from_dict(training)
    result = sft_stage(Path(instruct_dataset), config)
    metrics = result.metrics
    log_metadata(
        metadata={
            "sft": {
                k: metrics.get(k)
                for k in ("global_step", "train_loss", "eval_loss", "eval_loss_before", "tokens_per_second")
                if metrics.get(k) is not None
            }
        },
        artifact_name="sft_result",
        infer_artifact=True,
    )
    return result.to_dict()
