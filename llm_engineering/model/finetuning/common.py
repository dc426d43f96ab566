"""One training stage from start to finish, shared by SFT and DPO: load the data and the model,
build the trainer, train (resuming), save the merged model and adapter, write the stage's result."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from llm_engineering.exceptions import ConfigurationError
from llm_engineering.files import write_json_atomic
from llm_engineering.model.finetuning.base_config import BaseRunConfig
from llm_engineering.model.finetuning.callbacks import Progress, TimeBudget
from llm_engineering.model.finetuning.data import eval_subset, load_splits
from llm_engineering.model.finetuning.lora import merge_adapter
from llm_engineering.model.loading import ModelTooLargeError, load_causal_lm, pick_device, resolve_model_dir

STAGE_FILE = "stage.json"
# Full fine-tuning learnt faster than LoRA per CPU second on SmolLM2-135M; beyond this size a CPU run
# of it is slow and memory-hungry (weights, gradients and two AdamW moments in fp32).
FULL_FINETUNE_CPU_MAX_PARAMETERS = 360_000_000


@dataclass
class StageResult:
    """A finished training stage: its folder, merged model, adapter and metrics."""

    stage: str
    output_dir: Path
    model_dir: Path
    adapter_dir: Path | None
    base_model_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageResult:
        paths = ("output_dir", "model_dir", "adapter_dir", "base_model_dir")
        return cls(**{k: (Path(v) if k in paths and v is not None else v) for k, v in data.items()})

    def write(self) -> None:
        """Mark the stage complete (written last)."""
        write_json_atomic(self.output_dir / STAGE_FILE, self.to_dict(), default=str)

    @classmethod
    def read(cls, output_dir: Path) -> StageResult | None:
        marker = Path(output_dir) / STAGE_FILE
        if not marker.is_file():
            return None
        return cls.from_dict(json.loads(marker.read_text(encoding="utf-8")))


@dataclass
class StageRun:
    """A stage about to train: its checked data, the model to tune, the callbacks and the folders."""

    stage: str
    config: BaseRunConfig
    data: Any  # DatasetDict: train (and test)
    eval_data: Any  # the test rows evaluated, or None
    output_dir: Path
    base_dir: Path
    device: str
    model: Any
    tokenizer: Any
    progress: Progress
    budget: TimeBudget | None

    @classmethod
    def start(
        cls,
        stage: str,
        dataset,
        config: BaseRunConfig,
        *,
        kind: str,
        columns: Sequence[str],
        model_id,
        output_dir,
        device,
    ) -> StageRun:
        """Check the dataset (before anything is written), then load the model to tune."""
        data = load_splits(dataset, kind=kind, columns=columns)
        eval_data = eval_subset(data, config.max_eval_samples)
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        base_dir, device, model, tokenizer = load_for_training(model_id, device, config.lora)
        warn_small_dataset(len(data["train"]), config, kind)
        progress, budget = Progress(stage), TimeBudget.of(config)
        return cls(stage, config, data, eval_data, output_dir, base_dir, device, model, tokenizer, progress, budget)

    @property
    def checkpoints(self) -> Path:
        return self.output_dir / "checkpoints"

    def trainer(self, trainer_class, **kwargs):
        """A TRL trainer of this run (with its time budget's schedule, when it has one)."""
        trainer = trainer_class(
            model=self.model,
            args=self.config.trl_args(self.checkpoints, self.device),
            train_dataset=self.data["train"],
            eval_dataset=self.eval_data,
            processing_class=self.tokenizer,
            callbacks=[self.progress] if self.budget is None else [self.progress, self.budget],
            **kwargs,
        )
        if self.budget is not None:
            self.budget.install(trainer)
        return trainer

    def resuming(self, resume: bool) -> bool:
        return resume and last_checkpoint(self.checkpoints) is not None

    def finish(self, trainer, train_output, *, resumed: bool, **extra) -> StageResult:
        """Save the model and adapter, then write the stage's result (its completion marker)."""
        model_dir, adapter_dir = save_outputs(
            trainer, self.tokenizer, base_dir=self.base_dir, output_dir=self.output_dir, lora=self.config.lora
        )
        metrics = stage_metrics(
            self.stage,
            trainer,
            train_output,
            self.progress,
            self.budget,
            **extra,
            eval_samples=len(self.eval_data) if self.eval_data is not None else 0,
            train_samples=len(self.data["train"]),
            device=self.device,
            dtype=str(self.model.dtype).removeprefix("torch."),
            resumed=resumed,
            config=dataclasses.asdict(self.config),
        )
        result = StageResult(self.stage, self.output_dir, model_dir, adapter_dir, self.base_dir, metrics)
        result.write()
        return result


def load_for_training(model_id: str | Path | None, device: str | None, lora):
    """``(base_dir, device, model, tokenizer)``: the model to tune, fp32 master weights for full
    fine-tuning, 4-bit when the LoRA settings ask for QLoRA."""
    import torch

    base_dir = Path(model_id) if isinstance(model_id, Path) else resolve_model_dir(model_id)
    device = pick_device(device)
    dtype = None if lora.enabled else torch.float32
    model, tokenizer = load_causal_lm(
        base_dir, device=device, dtype=dtype, for_training=True, load_in_4bit=lora.load_in_4bit
    )
    parameters = sum(p.numel() for p in model.parameters())
    if not lora.enabled and device == "cpu" and parameters > FULL_FINETUNE_CPU_MAX_PARAMETERS:
        logger.warning(
            "full fine-tuning of {:.0f}M parameters on a CPU: measured faster than LoRA only up to {:.0f}M; "
            "consider lora.enabled: true",
            parameters / 1e6,
            FULL_FINETUNE_CPU_MAX_PARAMETERS / 1e6,
        )
    return base_dir, device, model, tokenizer


def top_blocks(model, blocks: int | None) -> list[int] | None:
    """Indices of the top ``blocks`` decoder blocks of ``model`` (None: all, nothing to restrict)."""
    if blocks is None:
        return None
    count = len(model.get_decoder().layers)
    if not 1 <= blocks <= count:
        raise ConfigurationError(f"trainable_blocks must be between 1 and {count} for this model, got {blocks}")
    return list(range(count - blocks, count))


def train_only(model, blocks: list[int] | None, embeddings: bool = True) -> None:
    """Full fine-tuning of these decoder blocks and the final norm only (None: every block, and
    the token embeddings and output head too when ``embeddings``).

    The embeddings (tied to the output head in SmolLM2) and the lower blocks stay as they are, so the
    backward pass stops at the lowest trained block: each step costs less and more steps fit a budget.
    Keeping only the embeddings saves their gradient (a vocabulary-sized matrix product per step)
    and their optimiser state.
    """
    if blocks is None and embeddings:
        return
    decoder = model.get_decoder()
    blocks = range(len(decoder.layers)) if blocks is None else blocks
    model.requires_grad_(False)
    for module in [*(decoder.layers[i] for i in blocks), decoder.norm]:
        module.requires_grad_(True)


def warn_small_dataset(rows: int, config, kind: str) -> None:
    """A dataset smaller than one optimiser step's batch still trains, every step on all of it: say so."""
    per_step = config.per_device_train_batch_size * config.gradient_accumulation_steps
    if rows < per_step:
        logger.warning(
            "the {} dataset has {} training row(s), fewer than one batch ({} per step): every step trains on "
            "all of it, so expect it to be memorised rather than learnt from",
            kind,
            rows,
            per_step,
        )


def last_checkpoint(checkpoint_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(checkpoint_dir)) if checkpoint_dir.is_dir() else None


def _without_printers(trainer):
    """``trainer`` without transformers' callbacks that print each log's raw dict (Progress logs it)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for printer in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(printer)
    return trainer


def train(trainer, checkpoint_dir: Path, resume: bool):
    """``trainer.train()``, continuing from the last checkpoint when asked; OOM becomes a clear error."""
    import torch

    _without_printers(trainer)
    checkpoint = last_checkpoint(checkpoint_dir) if resume else None
    if checkpoint:
        logger.info("resuming from {}", checkpoint)
    try:
        return trainer.train(resume_from_checkpoint=checkpoint)
    except torch.OutOfMemoryError:
        raise ModelTooLargeError(
            "training ran out of device memory; lower per_device_train_batch_size or max_length, raise "
            "gradient_accumulation_steps, enable gradient_checkpointing, use LoRA/4-bit, or a smaller model"
        ) from None


def eval_loss(trainer, eval_dataset) -> float | None:
    """The trainer's loss on ``eval_dataset`` (None without one)."""
    if eval_dataset is None:
        return None
    return float(_without_printers(trainer).evaluate(eval_dataset)["eval_loss"])


def stage_metrics(stage: str, trainer, train_output, progress, budget=None, **extra) -> dict[str, Any]:
    state = trainer.state
    if budget is not None:
        extra = {**budget.metrics(), **extra}
    runtime = float(train_output.metrics.get("train_runtime", 0.0))
    tokens = int(state.num_input_tokens_seen - progress.tokens_at_start)
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    return {
        "stage": stage,
        "global_step": int(state.global_step),
        "train_loss": float(train_output.training_loss),
        "train_runtime_s": round(runtime, 2),
        "train_tokens": tokens,
        "epochs": round(float(state.epoch or 0.0), 3),
        "tokens_per_second": round(tokens / runtime, 1) if runtime > 0 else None,
        "trainable_parameters": int(trainable),
        "loss_curve": progress.curve,
        **extra,
    }


def save_outputs(trainer, tokenizer, *, base_dir: Path, output_dir: Path, lora) -> tuple[Path, Path | None]:
    """Save the adapter (LoRA) and the merged model with its tokenizer; returns (model_dir, adapter_dir)."""
    model_dir = output_dir / "model"
    adapter_dir = output_dir / "adapter" if lora.enabled else None
    shutil.rmtree(model_dir, ignore_errors=True)
    if adapter_dir is not None:
        shutil.rmtree(adapter_dir, ignore_errors=True)
        trainer.model.save_pretrained(adapter_dir)
        tokenizer.save_pretrained(adapter_dir)
        dtype = None if lora.load_in_4bit else trainer.model.get_base_model().dtype
        merge_adapter(base_dir, adapter_dir, model_dir, dtype=dtype, tokenizer=tokenizer)
    else:
        trainer.model.config.use_cache = True
        trainer.model.save_pretrained(model_dir, safe_serialization=True)
        tokenizer.save_pretrained(model_dir)
    return model_dir, adapter_dir
