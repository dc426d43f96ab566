"""What every training stage's config shares, declared once (each stage's own config sits beside its trainer).

A run config hands TRL every field TRL's own config also has, under the same name, so a knob is
written once here or in ``sft.py`` / ``dpo.py`` and never copied into a mapping.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from llm_engineering.exceptions import ConfigurationError
from llm_engineering.model.finetuning.lora import LoraSettings


@dataclass
class BaseRunConfig:
    """Knobs of any stage: optimiser, batches, checkpoints, evaluation, time budget and LoRA.

    ``time_budget_s`` fits the run into that many seconds of training steps (see
    ``callbacks.TimeBudget``); its schedule then replaces ``lr_scheduler_type``.
    """

    # Arguments the stage's TRL config always gets, whatever the run config says.
    trl_fixed: ClassVar[dict[str, Any]] = {}

    learning_rate: float = 3e-4
    num_train_epochs: float = 3.0
    max_steps: int = -1  # > 0 stops after that many optimiser steps (quick runs)
    per_device_train_batch_size: int = 2
    gradient_accumulation_steps: int = 8
    per_device_eval_batch_size: int = 8
    max_length: int = 2048
    warmup_steps: int = 10
    weight_decay: float = 0.01
    lr_scheduler_type: str = "linear"
    logging_steps: int = 1
    save_steps: int = 50
    save_total_limit: int = 2
    max_eval_samples: int | None = 64  # None: the whole test split
    gradient_checkpointing: bool = False  # CUDA only
    # CPU: bf16 autocast (weights and optimiser stay fp32). None: on when the CPU computes bf16
    # natively (AMX or AVX512-BF16): SmolLM2-135M full fine-tuning ran 1.3-1.5x as many tokens/s.
    cpu_bf16: bool | None = None
    seed: int = 42
    time_budget_s: float | None = None  # seconds of training steps; None: epochs / max_steps decide
    min_lr_ratio: float = 0.1  # the budgeted schedule's floor (1.0: constant learning rate)
    time_budget_clock: str = "wall"  # cpu: this process's CPU seconds (benchmarks on a shared machine)
    lora: LoraSettings = field(default_factory=LoraSettings)

    def __post_init__(self):
        if self.learning_rate <= 0:
            raise ValueError("learning_rate must be positive")
        if self.per_device_train_batch_size < 1 or self.gradient_accumulation_steps < 1 or self.max_length < 16:
            raise ValueError("batch size and accumulation must be >= 1 and max_length >= 16")
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise ValueError("set num_train_epochs > 0 or max_steps > 0")
        self._check_budget()

    def _check_budget(self) -> None:
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ValueError(
                f"time_budget_s must be a positive number of seconds, got {self.time_budget_s} "
                "(null: epochs and max_steps decide the length)"
            )
        if self.time_budget_clock not in ("wall", "cpu"):
            raise ValueError(f"time_budget_clock must be 'wall' or 'cpu', got {self.time_budget_clock!r}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("min_lr_ratio must be between 0 and 1 (1: constant learning rate)")

    @classmethod
    def trl_config_class(cls) -> type:
        """TRL's config class of this stage (``SFTConfig``, ``DPOConfig``)."""
        raise NotImplementedError

    def trl_args(self, output_dir: Path, device: str):
        """TRL's config: every field TRL's class also declares, the stage's fixed arguments and the
        device's precision settings (which decide ``gradient_checkpointing`` too)."""
        trl_class = self.trl_config_class()
        accepted = {f.name for f in dataclasses.fields(trl_class)}
        own = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name in accepted}
        device_settings = device_args(device, self.gradient_checkpointing, self.cpu_bf16)
        return trl_class(**{**own, **self.trl_fixed, "output_dir": str(output_dir), **device_settings})


def config_from_dict(cls, data: dict | None):
    """Build a config dataclass from a (YAML) dict; unknown keys are an error that names them."""
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


def cpu_computes_bf16() -> bool:
    """Whether this CPU has native bf16 arithmetic (AMX tiles or AVX512-BF16)."""
    import torch

    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def mixed_precision(device: str, cpu_bf16: bool | None = None) -> str | None:
    """``"bf16"``, ``"fp16"`` or None (fp32): the autocast a training run on ``device`` uses."""
    import torch

    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if cpu_bf16 is None:
        cpu_bf16 = cpu_computes_bf16()
    return "bf16" if cpu_bf16 else None


def autocast_note(dtype, device: str, cpu_bf16: bool | None = None) -> str:
    """The weights' dtype and the autocast on top, for a log line: ``torch.float32, bf16 autocast``."""
    precision = mixed_precision(device, cpu_bf16)
    return f"{dtype}, {precision} autocast" if precision else str(dtype)


def device_args(device: str, gradient_checkpointing: bool, cpu_bf16: bool | None = None) -> dict[str, Any]:
    """Autocast (bf16 on CUDA and on CPUs that compute it natively, see :func:`mixed_precision`) and
    optional gradient checkpointing on CUDA."""
    cuda = device.startswith("cuda")
    precision = mixed_precision(device, cpu_bf16)
    return {
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": not cuda,
        "gradient_checkpointing": cuda and gradient_checkpointing,
        "report_to": "none",
        "include_num_input_tokens_seen": "non_padding",
        "save_strategy": "steps",
        "eval_strategy": "no",
        "dataloader_pin_memory": cuda,
    }
