"""The twin's training run: SFT, then DPO from the SFT model, then one registry version.

Each stage works in ``DATA_DIR/models/runs/<run_name>/<stage>``. A stage that finished (its
``stage.json`` exists) is not repeated, and an interrupted stage continues from its last
checkpoint, so re-running after a crash picks up where it stopped. Publishing moves the final
model, the adapters and the metrics into a new registry version and clears the run folder.

A version records the fingerprint of what made it (datasets + training config); a run whose
fingerprint matches the newest version reuses it instead of training again, unless forced.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from llm_engineering.exceptions import ConfigurationError
from llm_engineering.model.finetuning.base_config import config_from_dict
from llm_engineering.model.finetuning.common import StageResult
from llm_engineering.model.finetuning.dpo import DPORunConfig, run_dpo
from llm_engineering.model.finetuning.sft import SFTRunConfig, run_sft
from llm_engineering.model.registry import ModelVersion, get_registry
from llm_engineering.settings import get_settings

_RUN_NAME = re.compile(r"^[\w.-]{1,100}$")


@dataclass
class TrainingConfig:
    model_id: str = ""  # empty: the offline base SmolLM2-135M-Instruct
    run_name: str = "twin"
    run_dpo: bool = True
    resume: bool = True  # continue an interrupted run of the same name from its checkpoints
    keep_run_dir: bool = False  # keep checkpoints after publishing
    # Seconds of training steps for both stages together (None: each stage's own time_budget_s,
    # epochs and max_steps decide); DPO gets dpo_budget_share of it when it runs.
    time_budget_s: float | None = None
    dpo_budget_share: float = 0.2
    sft: SFTRunConfig = field(default_factory=SFTRunConfig)
    dpo: DPORunConfig = field(default_factory=DPORunConfig)

    def __post_init__(self):
        if not _RUN_NAME.match(self.run_name):
            raise ValueError("run_name may hold letters, digits, '.', '_' and '-' only")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ValueError(f"time_budget_s must be a positive number of seconds, got {self.time_budget_s}")
        if not 0 < self.dpo_budget_share < 1:
            raise ValueError("dpo_budget_share must be between 0 and 1")
        if self.time_budget_s is not None:  # split the run's budget between the stages
            dpo_share = self.dpo_budget_share if self.run_dpo else 0.0
            self.sft.time_budget_s = self.time_budget_s * (1 - dpo_share)
            self.dpo.time_budget_s = self.time_budget_s * dpo_share if self.run_dpo else None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TrainingConfig:
        data = dict(data or {})
        sft = config_from_dict(SFTRunConfig, data.pop("sft", None))
        dpo = config_from_dict(DPORunConfig, data.pop("dpo", None))
        known = {"model_id", "run_name", "run_dpo", "resume", "keep_run_dir", "time_budget_s", "dpo_budget_share"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigurationError(f"unknown training option(s): {', '.join(unknown)}")
        try:
            return cls(sft=sft, dpo=dpo, **data)
        except ValueError as exc:
            raise ConfigurationError(f"invalid training config: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_dir(run_name: str) -> Path:
    return get_settings().DATA_DIR / "models" / "runs" / run_name


def _finished_stage(stage: str, config: TrainingConfig) -> tuple[Path, StageResult | None]:
    """The stage's folder, and its result when a resumable run already finished it (else a clean start)."""
    out = run_dir(config.run_name) / stage
    done = StageResult.read(out) if config.resume else None
    if done is not None:
        logger.info("{} of run {} already finished; reusing {}", stage.upper(), config.run_name, done.model_dir)
    elif not config.resume:
        shutil.rmtree(out, ignore_errors=True)
    return out, done


def sft_stage(instruct_dataset, config: TrainingConfig) -> StageResult:
    out, done = _finished_stage("sft", config)
    if done is not None:
        return done
    return run_sft(instruct_dataset, config.sft, model_id=config.model_id or None, output_dir=out, resume=config.resume)


def dpo_stage(preference_dataset, sft: StageResult, config: TrainingConfig) -> StageResult:
    out, done = _finished_stage("dpo", config)
    if done is not None:
        return done
    return run_dpo(preference_dataset, config.dpo, model_id=Path(sft.model_dir), output_dir=out, resume=config.resume)


def training_fingerprint(config: TrainingConfig, instruct_dataset, preference_dataset) -> str:
    """What determines the trained model: the config (less run bookkeeping) and the dataset versions."""
    relevant = {k: v for k, v in config.to_dict().items() if k not in ("run_name", "resume", "keep_run_dir")}
    payload = {
        "config": relevant,
        "instruct": str(instruct_dataset),
        "preference": str(preference_dataset) if config.run_dpo else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def unchanged_version(fingerprint: str) -> ModelVersion | None:
    """The newest registry version when it was trained from the same fingerprint (and not forced)."""
    if get_settings().TRAINING_FORCE:
        return None
    latest = get_registry().latest()
    if latest is not None and latest.manifest.get("fingerprint") == fingerprint:
        return latest
    return None


def publish(stages: list[StageResult], config: TrainingConfig, fingerprint: str | None = None) -> ModelVersion:
    """Move the last stage's merged model and every adapter into a new registry version."""
    if not stages:
        raise ValueError("no finished training stage to publish")
    registry = get_registry()
    staging = registry.staging()
    try:
        _link_tree(stages[-1].model_dir, staging / "model")
        (staging / "adapters").mkdir()
        for stage in stages:
            if stage.adapter_dir is not None and Path(stage.adapter_dir).is_dir():
                _link_tree(stage.adapter_dir, staging / "adapters" / stage.stage)
        metrics = {stage.stage: _public_metrics(stage.metrics) for stage in stages}
        version = registry.publish(
            staging,
            metrics=metrics,
            config=config.to_dict(),
            manifest={
                "run_name": config.run_name,
                "base_model": config.model_id or "SmolLM2-135M-Instruct",
                "stages": [s.stage for s in stages],
                "fingerprint": fingerprint,
            },
        )
    except BaseException:
        registry.discard(staging)
        raise
    if not config.keep_run_dir:
        shutil.rmtree(run_dir(config.run_name), ignore_errors=True)
    logger.info("registered model version {} at {}", version.version, version.path)
    return version


def _link_tree(source: Path, target: Path) -> None:
    """Copy a folder as hard links (instant, no second copy of a large model); real copies across devices."""

    def link_or_copy(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link_or_copy)


def _public_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "config"}


def summary(version: ModelVersion) -> dict[str, Any]:
    """Flat numbers of a version for dashboards (ZenML model metadata)."""
    out: dict[str, Any] = {"version": version.version, "path": str(version.path)}
    for stage, m in version.metrics.items():
        for key in ("global_step", "train_loss", "eval_loss", "eval_loss_before", "tokens_per_second", "train_tokens"):
            if m.get(key) is not None:
                out[f"{stage}/{key}"] = m[key]
        for key, value in (m.get("eval_rewards") or {}).items():
            out[f"{stage}/{key}"] = value
    return out


@dataclass(frozen=True)
class TrainingPlan:
    """What a training run will do: its config and datasets, and the registry version it can reuse
    instead (same datasets and config as the newest one), if any."""

    config: TrainingConfig
    instruct_dataset: Any
    preference_dataset: Any
    fingerprint: str | None
    reused: ModelVersion | None


def plan_training(instruct_dataset, preference_dataset, config: TrainingConfig | dict | None = None) -> TrainingPlan:
    """The plan of a run on these datasets (``DatasetDict`` or their folders; only folders name a
    version, so only they can match an earlier version)."""
    if not isinstance(config, TrainingConfig):
        config = TrainingConfig.from_dict(config)
    fingerprint = reused = None
    if isinstance(instruct_dataset, str | Path):
        fingerprint = training_fingerprint(config, instruct_dataset, preference_dataset)
        reused = unchanged_version(fingerprint)
    return TrainingPlan(config, instruct_dataset, preference_dataset, fingerprint, reused)


def train_twin(instruct_dataset, preference_dataset, config: TrainingConfig | dict | None = None) -> ModelVersion:
    """SFT on the instruct dataset, DPO on the preference dataset, one new registry version."""
    plan = plan_training(instruct_dataset, preference_dataset, config)
    if plan.reused is not None:
        logger.info("datasets and config unchanged since {}: reusing it", plan.reused.version)
        return plan.reused
    stages = [sft_stage(plan.instruct_dataset, plan.config)]
    if plan.config.run_dpo:
        stages.append(dpo_stage(plan.preference_dataset, stages[0], plan.config))
    return publish(stages, plan.config, fingerprint=plan.fingerprint)


def apply_max_steps_override(config: TrainingConfig) -> TrainingConfig:
    """``TRAINING_MAX_STEPS`` (when set) caps both stages: a quick run without editing the config."""
    steps = get_settings().TRAINING_MAX_STEPS
    if steps:
        logger.info("TRAINING_MAX_STEPS={} caps SFT and DPO", steps)
        config.sft.max_steps = steps
        config.dpo.max_steps = steps
    return config


def apply_overrides(config: TrainingConfig) -> TrainingConfig:
    """The environment's training settings applied to ``config``: ``TRAINING_TIME_BUDGET_S`` (when
    set) replaces the config's time budget, then ``TRAINING_MAX_STEPS`` caps the steps."""
    budget = get_settings().TRAINING_TIME_BUDGET_S
    if budget is not None:
        if not budget > 0:
            raise ConfigurationError(
                f"TRAINING_TIME_BUDGET_S must be a positive number of seconds, got {budget} "
                "(leave it empty to let configs/training.yaml decide)"
            )
        data = config.to_dict()
        data["time_budget_s"] = budget
        config = TrainingConfig.from_dict(data)
    return apply_max_steps_override(config)
