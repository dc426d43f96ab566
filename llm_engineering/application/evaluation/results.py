"""What an evaluation produces: per-item scores, per-model summaries, the judge's and the pairwise
verdicts, gathered in one ``EvaluationResult`` that the runner builds and the report, the gate and
the review sheet read (its own module, so that none of them imports another to get it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from llm_engineering.application.evaluation.judge import PairwiseVerdict
from llm_engineering.application.evaluation.samples import EvalSample
from llm_engineering.application.evaluation.stats import Estimate
from llm_engineering.application.evaluation.style import Stylometry

PER_ITEM_METRICS = (
    "loss",
    "rouge_l",
    "bleu",
    "chrf",
    "semantic_similarity",
    "style_similarity",
    "stylometry_distance",
    "judge_accuracy",
    "judge_style",
    "faithfulness",
)


class ItemScore(BaseModel):
    sample_id: str
    model: str
    answer: str | None
    voice_answer: str | None = None
    """The answer to the bare question (style is scored on it) when ``answer`` was grounded."""
    finish_reason: str = ""
    metrics: dict[str, float | None] = Field(default_factory=dict)


class ModelSummary(BaseModel):
    label: str
    model_id: str
    version: str
    model_dir: str
    metrics: dict[str, Estimate] = Field(default_factory=dict)
    loss_tokens: int = 0
    stylometry: Stylometry | None = None
    generation_seconds: float = 0.0
    loss_seconds: float = 0.0
    cached_items: int = 0
    judge_malformed: int = 0


class PairwiseSummary(BaseModel):
    candidate: str
    baseline: str
    win_rate: Estimate
    consistency: float | None
    malformed: int
    items: dict[str, PairwiseVerdict] = Field(default_factory=dict)


class JudgeSummary(BaseModel):
    name: str
    weak: bool
    judged_items: int
    note: str = ""
    method: str = ""
    sanity: dict[str, Any] | None = None
    """The judge's results on the built-in sanity items (``judge.SanityCheck``), when checked."""
    skipped: list[str] = Field(default_factory=list)
    """Why scores or pairwise verdicts were not asked for (a judge too weak to trust)."""


class EvaluationResult(BaseModel):
    run_name: str
    created_at: str
    dataset: str
    config: dict[str, Any]
    samples: list[EvalSample]
    models: list[ModelSummary]
    items: list[ItemScore]
    judge: JudgeSummary | None = None
    pairwise: PairwiseSummary | None = None
    author_style: dict[str, Any] = Field(default_factory=dict)
    retrieval: dict[str, Any] | None = None
    training_curves: dict[str, list[tuple[float, float]]] = Field(default_factory=dict)
    report_dir: str | None = None
    notes: list[str] = Field(default_factory=list)
    gate: dict[str, Any] | None = None
    review_agreement: dict[str, Any] | None = None

    def model(self, label: str) -> ModelSummary:
        for m in self.models:
            if m.label == label:
                return m
        raise KeyError(f"no model {label!r} in this evaluation (have {[m.label for m in self.models]})")

    def metric(self, label: str, metric: str) -> float | None:
        if metric == "pairwise_win_rate":
            if self.pairwise is None:
                return None
            if label == self.pairwise.candidate:
                return self.pairwise.win_rate.value
            if label == self.pairwise.baseline and self.pairwise.win_rate.value is not None:
                return 1 - self.pairwise.win_rate.value
            return None
        estimate = self.model(label).metrics.get(metric)
        return estimate.value if estimate else None

    def item_values(self, label: str, metric: str) -> list[float]:
        return [i.metrics[metric] for i in self.items if i.model == label and i.metrics.get(metric) is not None]
