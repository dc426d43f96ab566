"""What a training run reports and how it keeps to its time: the stages' ``TrainerCallback`` classes.

transformers is slow to import, so these classes take ``TrainerCallback`` as their base only when
the first one is made (a trainer is about to run anyway); importing this module stays cheap.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

from loguru import logger

from llm_engineering.exceptions import ConfigurationError


@functools.cache
def _with_trainer_callback(cls: type) -> type:
    from transformers import TrainerCallback

    return type(cls.__name__, (cls, TrainerCallback), {})


class LazyTrainerCallback:
    """A ``TrainerCallback`` whose base class is imported when the first instance is made."""

    def __new__(cls, *args, **kwargs):
        from transformers import TrainerCallback

        if not issubclass(cls, TrainerCallback):
            cls = _with_trainer_callback(cls)
        return super().__new__(cls)


_CURVE_KEYS = ("loss", "grad_norm", "learning_rate", "epoch", "mean_token_accuracy")
_SHOWN_REWARDS = ("rewards/margins", "rewards/accuracies")


def _is_curve_key(key: str) -> bool:
    return key in _CURVE_KEYS or key.startswith(("rewards/", "logps/"))


class Progress(LazyTrainerCallback):
    """One log line per logging step with loss and tokens/s, and the curves of the run."""

    def __init__(self, stage: str):
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
        rewards = "".join(f" {k.split('/')[-1]} {logs[k]:.3f}" for k in _SHOWN_REWARDS if k in logs)
        logger.info(
            "{} step {}/{} loss {:.4f} lr {:.2e} tokens/s {:.0f}{}",
            self.stage,
            state.global_step,
            state.max_steps,
            logs["loss"],
            logs.get("learning_rate", 0.0),
            point["tokens_per_second"],
            rewards,
        )


class TimeBudget(LazyTrainerCallback):
    """Fits a run into ``budget_s`` seconds of training steps.

    It times the first ``calibration_steps`` steps after the first one, then plans the number of
    steps that fit in the rest of the budget (never more than the epochs or ``max_steps`` of the
    config allow) and stops on time anyway when steps slow down (a shared machine). Its
    :meth:`install` gives the trainer a learning-rate schedule over the planned steps: linear
    warmup for ``warmup_steps``, then a cosine from the peak down to ``min_lr_ratio`` times it
    (1.0: constant) -- so learning starts at once and the decay ends when the budget does.

    ``clock="cpu"`` counts this process's CPU seconds instead of wall-clock seconds: a benchmark on
    a machine shared with other work then measures what the budget buys on cores of its own.
    """

    def __init__(
        self,
        budget_s: float,
        *,
        warmup_steps: int = 0,
        min_lr_ratio: float = 0.1,
        calibration_steps: int = 3,
        clock: str = "wall",
    ):
        if not budget_s > 0:
            raise ConfigurationError(f"the training time budget must be a positive number of seconds, got {budget_s}")
        if clock not in ("wall", "cpu"):
            raise ConfigurationError(f"the time budget's clock must be 'wall' or 'cpu', got {clock!r}")
        self.budget_s = float(budget_s)
        self.warmup_steps = warmup_steps
        self.min_lr_ratio = min_lr_ratio
        self.calibration_steps = calibration_steps
        self.clock = clock
        self.now = time.process_time if clock == "cpu" else time.perf_counter
        self.planned_steps: int | None = None
        self.upper_steps = 0
        self.first_step = 0
        self.started = self.calibration_start = self.now()
        self.seconds_per_step: float | None = None
        self.stopped_on_time = False

    @classmethod
    def of(cls, config) -> TimeBudget | None:
        """The budget of a run config with ``time_budget_s`` set, else None."""
        if config.time_budget_s is None:
            return None
        return cls(
            config.time_budget_s,
            warmup_steps=config.warmup_steps,
            min_lr_ratio=config.min_lr_ratio,
            clock=config.time_budget_clock,
        )

    def lr_factor(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        total = self.planned_steps or self.upper_steps or 1
        progress = min(1.0, (step - self.warmup_steps) / max(1, total - self.warmup_steps))
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    def install(self, trainer) -> None:
        """Give ``trainer`` this schedule (before ``train()``; the trainer then keeps it)."""
        from torch.optim.lr_scheduler import LambdaLR

        trainer.lr_scheduler = LambdaLR(trainer.create_optimizer(), lambda step: self.lr_factor(step))

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = self.now()
        self.upper_steps = state.max_steps
        self.first_step = state.global_step

    def on_step_end(self, args, state, control, **kwargs):
        clock_now = self.now()
        done = state.global_step - self.first_step
        if done == 1:
            self.calibration_start = clock_now  # the first step pays one-off costs: not timed
        elif done == 1 + self.calibration_steps and self.planned_steps is None:
            self._plan(state, clock_now)
        if self.planned_steps is not None and state.global_step >= self.planned_steps:
            control.should_training_stop = True  # the trainer's own loop runs to the config's end
        elif clock_now - self.started >= self.budget_s and state.global_step < state.max_steps:
            self.stopped_on_time = True
            control.should_training_stop = True
            logger.info("time budget {:.0f} s spent: stopping at step {}", self.budget_s, state.global_step)
        return control

    def _plan(self, state, clock_now: float) -> None:
        """Steps that fit in the rest of the budget at the calibrated pace; the trainer's ``max_steps`` too."""
        self.seconds_per_step = (clock_now - self.calibration_start) / self.calibration_steps
        fit = int((self.budget_s - (clock_now - self.started)) / self.seconds_per_step)
        self.planned_steps = max(state.global_step, min(state.max_steps, state.global_step + fit))
        state.max_steps = self.planned_steps
        logger.info(
            "time budget {:.0f} {} s: {:.1f} s/step, {} steps planned (the config allows {})",
            self.budget_s,
            self.clock,
            self.seconds_per_step,
            self.planned_steps,
            self.upper_steps,
        )

    def metrics(self) -> dict[str, Any]:
        return {
            "time_budget_s": self.budget_s,
            "time_budget_clock": self.clock,
            "planned_steps": self.planned_steps,
            "seconds_per_step": round(self.seconds_per_step, 2) if self.seconds_per_step else None,
            "stopped_on_time": self.stopped_on_time,
        }
