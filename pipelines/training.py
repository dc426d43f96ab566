"""The training pipeline: SFT on the instruct dataset, DPO from the SFT model, one registry version.

Run: ``poe run-training-pipeline`` (``python -m tools.run training``) with ``configs/training.yaml``.
``TRAINING_MAX_STEPS=5`` in the environment caps both stages for a quick run. When the datasets and
config match the newest registry version, nothing is trained and that version is reused
(``TRAINING_FORCE=true`` retrains).
"""

from typing import Any

from zenml import pipeline

from llm_engineering.model.finetuning.data import find_dataset
from llm_engineering.model.finetuning.twin import (
    TrainingConfig,
    apply_overrides,
    training_fingerprint,
    unchanged_version,
)
from pipelines._flow import dataset_artifact, join_twin_model
from steps.training import register_model, reuse_model_version, train_dpo, train_sft


@pipeline
def training(instruct_dataset: str = "", preference_dataset: str = "", training: Any = None) -> None:
    # Checked here, before any step runs, so a bad config stops at once with a clear message.
    config = apply_overrides(TrainingConfig.from_dict(training))
    params = config.to_dict()
    # Resolve the datasets now (empty: the newest generated ones) so a missing one stops the run at once.
    instruct_dataset = str(find_dataset(instruct_dataset, "instruct"))
    if config.run_dpo:
        preference_dataset = str(find_dataset(preference_dataset, "preference"))
    join_twin_model("training")
    # The generated datasets' ZenML artifacts go in as inputs (the folders stay what is read).
    instruct = dataset_artifact("instruct_datasets", instruct_dataset)
    preference = dataset_artifact("preference_datasets", preference_dataset) if config.run_dpo else None
    fingerprint = training_fingerprint(config, instruct_dataset, preference_dataset)
    reused = unchanged_version(fingerprint)
    if reused is not None:  # same datasets and config as the newest version: nothing to train
        reuse_model_version(version=reused.version, instruct_datasets=instruct, preference_datasets=preference)
        return
    sft = train_sft(instruct_dataset=instruct_dataset, training=params, instruct_datasets=instruct)
    dpo = None
    if config.run_dpo:
        dpo = train_dpo(
            sft_result=sft, preference_dataset=preference_dataset, training=params, preference_datasets=preference
        )
    register_model(sft_result=sft, dpo_result=dpo, training=params, fingerprint=fingerprint)
