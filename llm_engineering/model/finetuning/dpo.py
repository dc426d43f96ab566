"""Preference tuning with TRL's ``DPOTrainer``, starting from the SFT result.

The SFT model (merged) is the starting point and, with LoRA, also the reference: TRL computes the
reference log-probabilities with the new adapter disabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from llm_engineering.model.finetuning.base_config import BaseRunConfig, autocast_note
from llm_engineering.model.finetuning.common import StageResult, StageRun, train
from llm_engineering.model.finetuning.data import PREFERENCE_COLUMNS


@dataclass
class DPORunConfig(BaseRunConfig):
    """DPO knobs. Book defaults: beta 0.5, lr 2e-6, 1 epoch, batch 2 x 8 accumulation."""

    beta: float = 0.5
    learning_rate: float = 2e-6
    num_train_epochs: float = 1.0
    per_device_eval_batch_size: int = 4
    max_eval_samples: int | None = 32
    # fp32 on a CPU unless asked: DPO's rewards are small differences of the policy's and the
    # reference's log-probabilities, and after a few LoRA steps bf16 rounding outweighed them (the
    # margins of a 3-step run fell where they rose in fp32). Set true to trade that for speed.
    cpu_bf16: bool | None = False

    def __post_init__(self):
        super().__post_init__()
        if self.beta <= 0:
            raise ValueError("beta must be positive")

    @classmethod
    def trl_config_class(cls) -> type:
        from trl import DPOConfig

        return DPOConfig


def run_dpo(
    dataset,
    config: DPORunConfig | None = None,
    *,
    model_id: str | Path | None = None,
    output_dir: Path,
    resume: bool = True,
    device: str | None = None,
) -> StageResult:
    """DPO on the preference ``dataset``, from ``model_id`` (normally the SFT stage's merged model)."""
    from trl import DPOTrainer

    config = config or DPORunConfig()
    run = StageRun.start(
        "dpo",
        dataset,
        config,
        kind="preference",
        columns=PREFERENCE_COLUMNS,
        model_id=model_id,
        output_dir=output_dir,
        device=device,
    )
    trainer = run.trainer(DPOTrainer, ref_model=None, peft_config=config.lora.peft_config())
    logger.info(
        "DPO of {} on {} preference pairs (beta {}, {}, {})",
        run.base_dir,
        len(run.data["train"]),
        config.beta,
        run.device,
        autocast_note(run.model.dtype, run.device, config.cpu_bf16),
    )
    resuming = run.resuming(resume)
    train_output = train(trainer, run.checkpoints, resume)
    eval_metrics = trainer.evaluate(run.eval_data) if run.eval_data is not None else {}
    rewards = {k: float(v) for k, v in eval_metrics.items() if "reward" in k or k == "eval_loss"}
    result = run.finish(
        trainer, train_output, resumed=resuming, eval_loss=rewards.get("eval_loss"), eval_rewards=rewards
    )
    logger.info("DPO done: {} steps, eval {}", result.metrics["global_step"], rewards)
    return result
