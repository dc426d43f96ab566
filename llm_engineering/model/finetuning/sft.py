"""Supervised fine-tuning with TRL's ``SFTTrainer`` (LoRA by default, full fine-tuning as an option).

The instruct dataset is in TRL's conversational prompt/completion format, so the tokenizer's chat
template renders every example and the loss covers the assistant's completion only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from loguru import logger

from llm_engineering.model.finetuning import common
from llm_engineering.model.finetuning.data import INSTRUCT_COLUMNS, eval_subset, load_splits
from llm_engineering.model.finetuning.lora import LoraSettings


@dataclass
class SFTRunConfig:
    """SFT knobs. Defaults are the book's (3 epochs, lr 3e-4, batch 2 x 8 accumulation, 2048 tokens).

    ``time_budget_s`` fits the run into that many seconds of training steps (see
    ``common.TimeBudget``); its schedule then replaces ``lr_scheduler_type``. ``packing`` puts
    several examples into each ``max_length`` row with no padding (each example still attends only
    to itself); ``packing_strategy`` ``bfd_split`` splits an example longer than a row instead of
    cutting it off.
    """

    learning_rate: float = 3e-4
    num_train_epochs: float = 3.0
    max_steps: int = -1  # > 0 stops after that many optimiser steps (quick runs)
    per_device_train_batch_size: int = 2
    gradient_accumulation_steps: int = 8
    per_device_eval_batch_size: int = 8
    max_length: int = 2048
    packing: bool = False
    packing_strategy: str = "bfd_split"  # bfd: cut examples longer than max_length; bfd_split: split them
    time_budget_s: float | None = None  # seconds of training steps; None: epochs / max_steps decide
    min_lr_ratio: float = 0.1  # the budgeted schedule's floor (1.0: constant learning rate)
    time_budget_clock: str = "wall"  # cpu: this process's CPU seconds (benchmarks on a shared machine)
    warmup_steps: int = 10
    weight_decay: float = 0.01
    lr_scheduler_type: str = "linear"
    logging_steps: int = 1
    save_steps: int = 50
    save_total_limit: int = 2
    max_eval_samples: int | None = 64  # None: the whole test split
    eval_before_training: bool = True
    gradient_checkpointing: bool = False  # CUDA only
    # train the top N decoder blocks only (and, without LoRA, the final norm); None: every block
    trainable_blocks: int | None = None
    seed: int = 42
    lora: LoraSettings = field(default_factory=LoraSettings)

    def __post_init__(self):
        if self.learning_rate <= 0:
            raise ValueError("learning_rate must be positive")
        if self.per_device_train_batch_size < 1 or self.gradient_accumulation_steps < 1 or self.max_length < 16:
            raise ValueError("batch size and accumulation must be >= 1 and max_length >= 16")
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise ValueError("set num_train_epochs > 0 or max_steps > 0")
        common.check_budget_fields(self)
        if self.trainable_blocks is not None and self.trainable_blocks < 1:
            raise ValueError("trainable_blocks must be a positive number of blocks (null: all of them)")

    def trl_args(self, output_dir: Path, device: str):
        from trl import SFTConfig

        return common.trl_args(
            SFTConfig,
            self,
            output_dir,
            device,
            packing=self.packing,
            packing_strategy=self.packing_strategy,
            eval_packing=False,  # eval loss per example, comparable with or without packing
            completion_only_loss=True,
        )


def run_sft(
    dataset,
    config: SFTRunConfig | None = None,
    *,
    model_id: str | Path | None = None,
    output_dir: Path,
    resume: bool = True,
    device: str | None = None,
) -> common.StageResult:
    """Fine-tune ``model_id`` (default: base SmolLM2) on the instruct ``dataset`` (DatasetDict or its folder).

    Writes ``output_dir/adapter`` (LoRA), ``output_dir/model`` (merged safetensors + tokenizer) and
    checkpoints under ``output_dir/checkpoints``; with ``resume`` an interrupted run continues from
    its last checkpoint.
    """
    from trl import SFTTrainer

    config = config or SFTRunConfig()
    data = load_splits(dataset, kind="instruct", columns=INSTRUCT_COLUMNS)
    eval_data = eval_subset(data, config.max_eval_samples)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    base_dir, device, model, tokenizer = common.load_for_training(model_id, device, config.lora)
    top_blocks = common.top_blocks(model, config.trainable_blocks)
    if not config.lora.enabled:
        common.train_only(model, top_blocks)
    common.warn_small_dataset(len(data["train"]), config, "instruct")
    progress = common.Progress("sft")
    budget = common.time_budget(config)
    checkpoints = output_dir / "checkpoints"
    trainer = SFTTrainer(
        model=model,
        args=config.trl_args(checkpoints, device),
        train_dataset=data["train"],
        eval_dataset=eval_data,
        processing_class=tokenizer,
        peft_config=config.lora.peft_config(top_blocks),
        callbacks=[progress, budget] if budget is not None else [progress],
    )
    if budget is not None:
        budget.install(trainer)
    train_tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    blocks = "all" if config.trainable_blocks is None else f"the top {config.trainable_blocks}"
    logger.info(
        "SFT of {} on {} examples, {} tokens{} ({}, {}, LoRA {})",
        base_dir.name,
        len(data["train"]),
        train_tokens,
        f" packed into {len(trainer.train_dataset)} rows" if config.packing else "",
        device,
        model.dtype,
        f"r={config.lora.r}" if config.lora.enabled else f"off: full fine-tuning of {blocks} blocks",
    )
    resuming = resume and common.last_checkpoint(checkpoints) is not None
    eval_before = common.evaluate(trainer, eval_data) if config.eval_before_training and not resuming else None
    train_output = common.train(trainer, checkpoints, resume)
    eval_after = common.evaluate(trainer, eval_data)

    model_dir, adapter_dir = common.save_outputs(
        trainer, tokenizer, base_dir=base_dir, output_dir=output_dir, lora=config.lora
    )
    metrics = common.stage_metrics(
        "sft",
        trainer,
        train_output,
        progress,
        budget,
        dataset_tokens=train_tokens,
        train_rows=len(trainer.train_dataset),
        eval_loss=eval_after,
        eval_loss_before=eval_before,
        eval_samples=len(eval_data) if eval_data is not None else 0,
        train_samples=len(data["train"]),
        device=device,
        dtype=str(model.dtype).removeprefix("torch."),
        resumed=resuming,
        config=asdict(config),
    )
    result = common.StageResult("sft", output_dir, model_dir, adapter_dir, base_dir, metrics)
    result.write()
    logger.info("SFT done: {} steps, eval loss {} -> {}", metrics["global_step"], eval_before, eval_after)
    return result
