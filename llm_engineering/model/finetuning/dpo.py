"""Preference tuning with TRL's ``DPOTrainer``, starting from the SFT result.

The SFT model (merged) is the starting point and, with LoRA, also the reference: TRL computes the
reference log-probabilities with the new adapter disabled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from loguru import logger

from llm_engineering.model.finetuning import common
from llm_engineering.model.finetuning.data import PREFERENCE_COLUMNS, eval_subset, load_splits
from llm_engineering.model.finetuning.lora import LoraSettings


@dataclass
class DPORunConfig:
    """DPO knobs. Book defaults: beta 0.5, lr 2e-6, 1 epoch, batch 2 x 8 accumulation."""

    beta: float = 0.5
    learning_rate: float = 2e-6
    num_train_epochs: float = 1.0
    max_steps: int = -1
    per_device_train_batch_size: int = 2
    gradient_accumulation_steps: int = 8
    per_device_eval_batch_size: int = 4
    max_length: int = 2048
    warmup_steps: int = 10
    weight_decay: float = 0.01
    lr_scheduler_type: str = "linear"
    logging_steps: int = 1
    save_steps: int = 50
    save_total_limit: int = 2
    max_eval_samples: int | None = 32
    gradient_checkpointing: bool = False  # CUDA only
    seed: int = 42
    time_budget_s: float | None = None  # seconds of training steps (see SFTRunConfig)
    min_lr_ratio: float = 0.1
    time_budget_clock: str = "wall"  # cpu: this process's CPU seconds (benchmarks on a shared machine)
    lora: LoraSettings = field(default_factory=LoraSettings)

    def __post_init__(self):
        if self.beta <= 0 or self.learning_rate <= 0:
            raise ValueError("beta and learning_rate must be positive")
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise ValueError("set num_train_epochs > 0 or max_steps > 0")
        common.check_budget_fields(self)

    def trl_args(self, output_dir: Path, device: str):
        from trl import DPOConfig

        return common.trl_args(DPOConfig, self, output_dir, device, beta=self.beta)


def run_dpo(
    dataset,
    config: DPORunConfig | None = None,
    *,
    model_id: str | Path | None = None,
    output_dir: Path,
    resume: bool = True,
    device: str | None = None,
) -> common.StageResult:
    """DPO on the preference ``dataset``, from ``model_id`` (normally the SFT stage's merged model)."""
    from trl import DPOTrainer

    config = config or DPORunConfig()
    data = load_splits(dataset, kind="preference", columns=PREFERENCE_COLUMNS)
    eval_data = eval_subset(data, config.max_eval_samples)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    base_dir, device, model, tokenizer = common.load_for_training(model_id, device, config.lora)
    common.warn_small_dataset(len(data["train"]), config, "preference")
    progress = common.Progress("dpo")
    budget = common.time_budget(config)
    checkpoints = output_dir / "checkpoints"
    trainer = DPOTrainer(
        model=model,
        ref_model=None,
        args=config.trl_args(checkpoints, device),
        train_dataset=data["train"],
        eval_dataset=eval_data,
        processing_class=tokenizer,
        peft_config=config.lora.peft_config(),
        callbacks=[progress, budget] if budget is not None else [progress],
    )
    if budget is not None:
        budget.install(trainer)
    logger.info("DPO of {} on {} preference pairs (beta {}, {})", base_dir, len(data["train"]), config.beta, device)
    resuming = resume and common.last_checkpoint(checkpoints) is not None
    train_output = common.train(trainer, checkpoints, resume)
    eval_metrics = trainer.evaluate(eval_data) if eval_data is not None else {}

    model_dir, adapter_dir = common.save_outputs(
        trainer, tokenizer, base_dir=base_dir, output_dir=output_dir, lora=config.lora
    )
    rewards = {k: float(v) for k, v in eval_metrics.items() if "reward" in k or k == "eval_loss"}
    metrics = common.stage_metrics(
        "dpo",
        trainer,
        train_output,
        progress,
        budget,
        eval_loss=rewards.get("eval_loss"),
        eval_rewards=rewards,
        eval_samples=len(eval_data) if eval_data is not None else 0,
        train_samples=len(data["train"]),
        device=device,
        dtype=str(model.dtype).removeprefix("torch."),
        resumed=resuming,
        config=asdict(config),
    )
    result = common.StageResult("dpo", output_dir, model_dir, adapter_dir, base_dir, metrics)
    result.write()
    logger.info("DPO done: {} steps, eval {}", metrics["global_step"], rewards)
    return result
