"""Supervised fine-tuning with TRL's ``SFTTrainer`` (LoRA by default, full fine-tuning as an option).

The instruct dataset is in TRL's conversational prompt/completion format, so the tokenizer's chat
template renders every example and the loss covers the assistant's completion only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from loguru import logger

from llm_engineering.model.finetuning.base_config import BaseRunConfig, autocast_note
from llm_engineering.model.finetuning.common import StageResult, StageRun, eval_loss, top_blocks, train, train_only
from llm_engineering.model.finetuning.data import INSTRUCT_COLUMNS


@dataclass
class SFTRunConfig(BaseRunConfig):
    """SFT knobs. Defaults are the book's (3 epochs, lr 3e-4, batch 2 x 8 accumulation, 2048 tokens).

    ``packing`` puts several examples into each ``max_length`` row with no padding (each example
    still attends only to itself); ``packing_strategy`` ``bfd_split`` splits an example longer than
    a row instead of cutting it off.
    """

    # eval loss per example (comparable with or without packing), on the completion only
    trl_fixed: ClassVar[dict] = {"eval_packing": False, "completion_only_loss": True}

    packing: bool = False
    packing_strategy: str = "bfd_split"  # bfd: cut examples longer than max_length; bfd_split: split them
    eval_before_training: bool = True
    # train the top N decoder blocks only (and, without LoRA, the final norm); None: every block
    trainable_blocks: int | None = None
    # full fine-tuning of every block: also train the token embeddings (tied to the output head in
    # SmolLM2); False keeps them, which makes a CPU step about a quarter cheaper
    train_embeddings: bool = True

    def __post_init__(self):
        super().__post_init__()
        if self.trainable_blocks is not None and self.trainable_blocks < 1:
            raise ValueError("trainable_blocks must be a positive number of blocks (null: all of them)")

    @classmethod
    def trl_config_class(cls) -> type:
        from trl import SFTConfig

        return SFTConfig


def run_sft(
    dataset,
    config: SFTRunConfig | None = None,
    *,
    model_id: str | Path | None = None,
    output_dir: Path,
    resume: bool = True,
    device: str | None = None,
) -> StageResult:
    """Fine-tune ``model_id`` (default: base SmolLM2) on the instruct ``dataset`` (DatasetDict or its folder).

    Writes ``output_dir/adapter`` (LoRA), ``output_dir/model`` (merged safetensors + tokenizer) and
    checkpoints under ``output_dir/checkpoints``; with ``resume`` an interrupted run continues from
    its last checkpoint.
    """
    from trl import SFTTrainer

    config = config or SFTRunConfig()
    run = StageRun.start(
        "sft",
        dataset,
        config,
        kind="instruct",
        columns=INSTRUCT_COLUMNS,
        model_id=model_id,
        output_dir=output_dir,
        device=device,
    )
    blocks = top_blocks(run.model, config.trainable_blocks)
    if not config.lora.enabled:
        train_only(run.model, blocks, embeddings=config.train_embeddings)
    trainer = run.trainer(SFTTrainer, peft_config=config.lora.peft_config(blocks))
    train_tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    _log_start(run, trainer, train_tokens)
    resuming = run.resuming(resume)
    eval_before = eval_loss(trainer, run.eval_data) if config.eval_before_training and not resuming else None
    train_output = train(trainer, run.checkpoints, resume)
    eval_after = eval_loss(trainer, run.eval_data)
    result = run.finish(
        trainer,
        train_output,
        resumed=resuming,
        dataset_tokens=train_tokens,
        train_rows=len(trainer.train_dataset),
        eval_loss=eval_after,
        eval_loss_before=eval_before,
    )
    logger.info("SFT done: {} steps, eval loss {} -> {}", result.metrics["global_step"], eval_before, eval_after)
    return result


def _log_start(run: StageRun, trainer, train_tokens: int) -> None:
    config = run.config
    blocks = "all" if config.trainable_blocks is None else f"the top {config.trainable_blocks}"
    frozen = "" if config.trainable_blocks is None and config.train_embeddings else ", embeddings frozen"
    logger.info(
        "SFT of {} on {} examples, {} tokens{} ({}, {}, LoRA {})",
        run.base_dir.name,
        len(run.data["train"]),
        train_tokens,
        f" packed into {len(trainer.train_dataset)} rows" if config.packing else "",
        run.device,
        autocast_note(run.model.dtype, run.device, config.cpu_bf16),
        f"r={config.lora.r}" if config.lora.enabled else f"off: full fine-tuning of {blocks} blocks{frozen}",
    )
