"""What SFT and DPO share: trainer arguments per device, progress logging, resuming, results."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from llm_engineering.exceptions import ConfigurationError
from llm_engineering.model.loading import ModelTooLargeError

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
        (self.output_dir / STAGE_FILE).write_text(json.dumps(self.to_dict(), indent=2, default=str), encoding="utf-8")

    @classmethod
    def read(cls, output_dir: Path) -> StageResult | None:
        marker = Path(output_dir) / STAGE_FILE
        if not marker.is_file():
            return None
        return cls.from_dict(json.loads(marker.read_text(encoding="utf-8")))


def config_from_dict(cls, data: dict | None):
    """Build a config dataclass from a (YAML) dict; unknown keys are an error that names them."""
    from llm_engineering.model.finetuning.lora import LoraSettings

    data = dict(data or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigurationError(f"unknown {cls.__name__} option(s): {', '.join(unknown)}")
    if isinstance(data.get("lora"), dict):
        data["lora"] = config_from_dict(LoraSettings, data["lora"])
    try:
        return cls(**data)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"invalid {cls.__name__}: {exc}") from None


# Fields SFTRunConfig and DPORunConfig share with TRL's configs, under the same names.
SHARED_TRL_FIELDS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "per_device_eval_batch_size",
    "max_length",
    "warmup_steps",
    "weight_decay",
    "lr_scheduler_type",
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "seed",
)


def trl_args(trl_config_cls, config, output_dir: Path, device: str, **extra):
    """A TRL config (``SFTConfig``/``DPOConfig``) from a run config's shared fields, the device's
    precision settings and the stage's own ``extra`` arguments."""
    shared = {name: getattr(config, name) for name in SHARED_TRL_FIELDS}
    return trl_config_cls(
        output_dir=str(output_dir), **shared, **extra, **device_args(device, config.gradient_checkpointing)
    )


def load_for_training(model_id: str | Path | None, device: str | None, lora):
    """``(base_dir, device, model, tokenizer)``: the model to tune, fp32 master weights for full
    fine-tuning, 4-bit when the LoRA settings ask for QLoRA."""
    import torch

    from llm_engineering.model.loading import load_causal_lm, pick_device, resolve_model_dir

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


def train_only(model, blocks: list[int] | None) -> None:
    """Full fine-tuning of these decoder blocks and the final norm only (None: every weight).

    The embeddings (tied to the output head in SmolLM2) and the lower blocks stay as they are, so the
    backward pass stops at the lowest trained block: each step costs less and more steps fit a budget.
    """
    if blocks is None:
        return
    decoder = model.get_decoder()
    model.requires_grad_(False)
    for module in [*(decoder.layers[i] for i in blocks), decoder.norm]:
        module.requires_grad_(True)


def device_args(device: str, gradient_checkpointing: bool) -> dict[str, Any]:
    """bf16 autocast and optional gradient checkpointing on CUDA; plain fp32 on CPU."""
    import torch

    cuda = device.startswith("cuda")
    return {
        "bf16": cuda and torch.cuda.is_bf16_supported(),
        "fp16": cuda and not torch.cuda.is_bf16_supported(),
        "use_cpu": not cuda,
        "gradient_checkpointing": cuda and gradient_checkpointing,
        "report_to": "none",
        "include_num_input_tokens_seen": "non_padding",
        "save_strategy": "steps",
        "eval_strategy": "no",
        "dataloader_pin_memory": cuda,
    }


_CURVE_KEYS = ("loss", "grad_norm", "learning_rate", "epoch", "mean_token_accuracy")


def _is_curve_key(key: str) -> bool:
    return key in _CURVE_KEYS or key.startswith(("rewards/", "logps/"))


class Progress:
    """A ``TrainerCallback`` factory: one log line per logging step with loss and tokens/s, and the curves."""

    def __new__(cls, stage: str):
        from transformers import TrainerCallback

        class _Progress(TrainerCallback):
            def __init__(self):
                self.stage = stage
                self.curve: list[dict[str, float]] = []
                self.started = time.perf_counter()
                self.tokens_at_start = 0

            def on_train_begin(self, args, state, control, **kwargs):
                self.started = time.perf_counter()
                self.tokens_at_start = state.num_input_tokens_seen

            def tokens_per_second(self, state) -> float:
                elapsed = time.perf_counter() - self.started
                return (state.num_input_tokens_seen - self.tokens_at_start) / elapsed if elapsed > 0 else 0.0

            def on_log(self, args, state, control, logs=None, **kwargs):
                logs = logs or {}
                if "loss" not in logs:
                    return
                point = {"step": state.global_step, "tokens_per_second": round(self.tokens_per_second(state), 1)}
                point.update({k: float(v) for k, v in logs.items() if isinstance(v, int | float) and _is_curve_key(k)})
                self.curve.append(point)
                extra = "".join(
                    f" {k.split('/')[-1] if k.startswith('rewards/') else k} {logs[k]:.3f}"
                    for k in ("rewards/margins", "rewards/accuracies")
                    if k in logs
                )
                logger.info(
                    "{} step {}/{} loss {:.4f} lr {:.2e} tokens/s {:.0f}{}",
                    self.stage,
                    state.global_step,
                    state.max_steps,
                    logs["loss"],
                    logs.get("learning_rate", 0.0),
                    point["tokens_per_second"],
                    extra,
                )

        return _Progress()


class TimeBudget:
    """A ``TrainerCallback`` factory that fits a run into ``budget_s`` seconds of training steps.

    It times the first ``calibration_steps`` steps after the first one, then plans the number of
    steps that fit in the rest of the budget (never more than the epochs or ``max_steps`` of the
    config allow) and stops on time anyway when steps slow down (a shared machine). Its
    :meth:`install` gives the trainer a learning-rate schedule over the planned steps: linear
    warmup for ``warmup_steps``, then a cosine from the peak down to ``min_lr_ratio`` times it
    (1.0: constant) -- so learning starts at once and the decay ends when the budget does.

    ``clock="cpu"`` counts this process's CPU seconds instead of wall-clock seconds: a benchmark on
    a machine shared with other work then measures what the budget buys on cores of its own.
    """

    def __new__(
        cls,
        budget_s: float,
        *,
        warmup_steps: int = 0,
        min_lr_ratio: float = 0.1,
        calibration_steps: int = 3,
        clock: str = "wall",
    ):
        import math

        from transformers import TrainerCallback

        if not budget_s > 0:
            raise ConfigurationError(f"the training time budget must be a positive number of seconds, got {budget_s}")
        if clock not in ("wall", "cpu"):
            raise ConfigurationError(f"the time budget's clock must be 'wall' or 'cpu', got {clock!r}")
        now = time.process_time if clock == "cpu" else time.perf_counter

        class _TimeBudget(TrainerCallback):
            def __init__(self):
                self.budget_s = float(budget_s)
                self.planned_steps: int | None = None
                self.upper_steps = 0
                self.first_step = 0
                self.started = self.calibration_start = now()
                self.seconds_per_step: float | None = None
                self.stopped_on_time = False

            def lr_factor(self, step: int) -> float:
                if step < warmup_steps:
                    return (step + 1) / (warmup_steps + 1)
                total = self.planned_steps or self.upper_steps or 1
                progress = min(1.0, (step - warmup_steps) / max(1, total - warmup_steps))
                return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

            def install(self, trainer) -> None:
                """Give ``trainer`` this schedule (before ``train()``; the trainer then keeps it)."""
                from torch.optim.lr_scheduler import LambdaLR

                trainer.lr_scheduler = LambdaLR(trainer.create_optimizer(), lambda step: self.lr_factor(step))

            def on_train_begin(self, args, state, control, **kwargs):
                self.started = now()
                self.upper_steps = state.max_steps
                self.first_step = state.global_step

            def on_step_end(self, args, state, control, **kwargs):
                clock_now = now()
                done = state.global_step - self.first_step
                if done == 1:
                    self.calibration_start = clock_now  # the first step pays one-off costs: not timed
                elif done == 1 + calibration_steps and self.planned_steps is None:
                    self.seconds_per_step = (clock_now - self.calibration_start) / calibration_steps
                    fit = int((self.budget_s - (clock_now - self.started)) / self.seconds_per_step)
                    self.planned_steps = max(state.global_step, min(state.max_steps, state.global_step + fit))
                    state.max_steps = self.planned_steps
                    logger.info(
                        "time budget {:.0f} {} s: {:.1f} s/step, {} steps planned (the config allows {})",
                        self.budget_s,
                        clock,
                        self.seconds_per_step,
                        self.planned_steps,
                        self.upper_steps,
                    )
                if self.planned_steps is not None and state.global_step >= self.planned_steps:
                    control.should_training_stop = True  # the trainer's own loop runs to the config's end
                elif clock_now - self.started >= self.budget_s and state.global_step < state.max_steps:
                    self.stopped_on_time = True
                    control.should_training_stop = True
                    logger.info("time budget {:.0f} s spent: stopping at step {}", self.budget_s, state.global_step)
                return control

            def metrics(self) -> dict[str, Any]:
                return {
                    "time_budget_s": self.budget_s,
                    "time_budget_clock": clock,
                    "planned_steps": self.planned_steps,
                    "seconds_per_step": round(self.seconds_per_step, 2) if self.seconds_per_step else None,
                    "stopped_on_time": self.stopped_on_time,
                }

        return _TimeBudget()


def time_budget(config):
    """The :class:`TimeBudget` callback of a run config with ``time_budget_s`` set, else None."""
    if config.time_budget_s is None:
        return None
    return TimeBudget(
        config.time_budget_s,
        warmup_steps=config.warmup_steps,
        min_lr_ratio=config.min_lr_ratio,
        clock=config.time_budget_clock,
    )


def check_budget_fields(config) -> None:
    """``time_budget_s`` and ``min_lr_ratio`` of a run config, checked (``ValueError`` says what is wrong)."""
    if config.time_budget_s is not None and not config.time_budget_s > 0:
        raise ValueError(
            f"time_budget_s must be a positive number of seconds, got {config.time_budget_s} "
            "(null: epochs and max_steps decide the length)"
        )
    if config.time_budget_clock not in ("wall", "cpu"):
        raise ValueError(f"time_budget_clock must be 'wall' or 'cpu', got {config.time_budget_clock!r}")
    if not 0 <= config.min_lr_ratio <= 1:
        raise ValueError("min_lr_ratio must be between 0 and 1 (1: constant learning rate)")


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


def evaluate(trainer, eval_dataset) -> float | None:
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
    import shutil

    model_dir = output_dir / "model"
    adapter_dir = output_dir / "adapter" if lora.enabled else None
    shutil.rmtree(model_dir, ignore_errors=True)
    if adapter_dir is not None:
        from llm_engineering.model.finetuning.lora import merge_adapter

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
