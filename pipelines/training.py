"""The training pipeline: SFT on the instruct dataset, DPO from the SFT model, one registry version.

Run: ``poe run-training-pipeline`` (``python -m tools.run training``) with ``configs/training.yaml``.
``TRAINING_MAX_STEPS=5`` in the environment caps both stages for a quick run. When the datasets and
config match the newest registry version, nothing is trained and that version is reused
(``TRAINING_FORCE=true`` retrains). The decision is the library's ``plan_training``, the same one
``train_twin`` follows; the steps run what it planned.
"""

from pathlib import Path
from typing import Any

from zenml import pipeline

from llm_engineering.application.dataset.store import resolve_dataset_path
from llm_engineering.model.finetuning.twin import TrainingConfig, apply_overrides, plan_training
from pipelines._flow import dataset_artifact, join_twin_model
from steps.training import register_model, reuse_model_version, train_dpo, train_sft


def dataset_folder(value: str, kind: str) -> str:
    """A dataset folder as given, or a generated version: ``kind/<version>``, or empty for the newest."""
    text = (value or "").strip()
    if text and Path(text).exists():
        return str(Path(text))
    return str(resolve_dataset_path(text or kind))


@pipeline
def training(instruct_dataset: str = "", preference_dataset: str = "", training: Any = None) -> None:
    # Checked here, before any step runs, so a bad config or a missing dataset stops at once with a clear message.
    config = apply_overrides(TrainingConfig.from_dict(training))
    instruct_dataset = dataset_folder(instruct_dataset, "instruct")
    if config.run_dpo:
        preference_dataset = dataset_folder(preference_dataset, "preference")
    plan = plan_training(instruct_dataset, preference_dataset, config)
    join_twin_model("training")
    # The generated datasets' ZenML artifacts go in as inputs (the folders stay what is read).
    instruct = dataset_artifact("instruct_datasets", instruct_dataset)
    preference = dataset_artifact("preference_datasets", preference_dataset) if config.run_dpo else None
    if plan.reused is not None:  # same datasets and config as the newest version: nothing to train
        reuse_model_version(version=plan.reused.version, instruct_datasets=instruct, preference_datasets=preference)
        return
    params = config.to_dict()
    sft = train_sft(instruct_dataset=instruct_dataset, training=params, instruct_datasets=instruct)
    dpo = None
    if config.run_dpo:
        dpo = train_dpo(
            sft_result=sft, preference_dataset=preference_dataset, training=params, preference_datasets=preference
        )
    register_model(sft_result=sft, dpo_result=dpo, training=params, fingerprint=plan.fingerprint)
