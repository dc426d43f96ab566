"""What an evaluation run does, as one validated object (built from ``configs/evaluating.yaml``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from llm_engineering.exceptions import ConfigurationError

# Direction of every metric the report and the gate know: True = higher is better.
METRICS: dict[str, bool] = {
    "loss": False,
    "perplexity": False,
    "rouge_l": True,
    "bleu": True,
    "chrf": True,
    "semantic_similarity": True,
    "style_similarity": True,
    "stylometry_distance": False,
    "judge_accuracy": True,
    "judge_style": True,
    "faithfulness": True,
    "pairwise_win_rate": True,
}


class ModelSpec(BaseModel):
    label: str = Field(..., min_length=1, description="Name in the report, e.g. base or tuned.")
    model_id: str = Field("", description="Empty: base SmolLM2; 'latest': newest tuned version; a folder or id.")


class MetricToggles(BaseModel):
    loss: bool = True
    overlap: bool = True
    """ROUGE-L, BLEU, chrF."""
    semantic: bool = True
    style: bool = True
    judge: bool = True
    pairwise: bool = True
    faithfulness: bool = False
    """Needs retrieved context: the RAG retriever and a populated vector store."""
    retrieval: bool = False
    """recall@k / MRR / evidence@k through the RAG evaluation."""


class GenerationSettings(BaseModel):
    max_new_tokens: int = Field(128, ge=1, le=4096)
    batch_size: int = Field(4, ge=1)
    system_prompt: str | None = None


class JudgeSettings(BaseModel):
    model_id: str = Field(
        "", description="Empty: the local small model (a weak judge). LLM_BASE_URL switches to a remote one."
    )
    max_tokens: int = Field(256, ge=16)
    max_items: int | None = Field(None, ge=1, description="Judge only the first N items (CPU budget).")
    min_sanity_agreement: float | None = Field(
        0.8,
        ge=0,
        le=1,
        description="Share of the built-in sanity items (a correct vs a plainly wrong answer) the judge must "
        "get right, or it is skipped as too weak; null: no check.",
    )


class RetrievalSettings(BaseModel):
    k: int = Field(3, ge=1, description="Passages retrieved per question for the faithfulness run.")
    qa_path: str | None = Field(None, description="JSON lines of question + link (+ evidence) for recall@k / MRR.")
    ks: list[int] = Field(default_factory=lambda: [1, 3, 5])


class GateRule(BaseModel):
    metric: str
    max_regression: float = Field(0.0, ge=0, description="How much worse than the baseline is tolerated (absolute).")
    require: Literal["not_worse", "better"] = Field(
        "not_worse",
        description="not_worse: fail only when the candidate is significantly worse (paired bootstrap) by more "
        "than max_regression; better: fail unless the candidate is significantly better.",
    )

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(f"unknown gate metric {value!r}; choose from {', '.join(METRICS)}")
        return value


class GateSettings(BaseModel):
    enabled: bool = True
    baseline: str = "base"
    candidate: str = "tuned"
    on_failure: Literal["fail", "warn"] = Field(
        "fail", description="fail: a regression fails the pipeline; warn: it is reported and logged only."
    )
    rules: list[GateRule] = Field(default_factory=lambda: [GateRule(metric="loss")])


class ReviewSettings(BaseModel):
    items: int = Field(20, ge=0, description="Items sampled into the human review sheet (0: none).")
    import_path: str | None = Field(
        None, description="A filled review sheet (CSV) to read back and compare with the judge."
    )


class StyleSettings(BaseModel):
    author_full_name: str | None = Field(None, description="Whose chunks form the style centroid; empty: all chunks.")
    fallback_to_references: bool = True
    """No chunks in the vector store: use the reference answers as the author's writing."""
    without_context: bool = True
    """When answers are grounded in retrieved passages, score style on a second answer to the bare
    question: a grounded answer that copies the author's passages looks like the author whatever the
    model, so only an answer written from the model's own weights says whether the twin learned the
    voice."""


class EvaluationConfig(BaseModel):
    models: list[ModelSpec] = Field(
        default_factory=lambda: [ModelSpec(label="base", model_id=""), ModelSpec(label="tuned", model_id="latest")]
    )
    dataset: str = Field("instruct", description="Dataset kind or path (a saved DatasetDict or an instruct JSON).")
    split: str = "test"
    sample_limit: int | None = Field(16, ge=1, description="Evaluate the first N test samples (CPU budget); null: all.")
    seed: int = 0
    metrics: MetricToggles = Field(default_factory=MetricToggles)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    style: StyleSettings = Field(default_factory=StyleSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    bootstrap_resamples: int = Field(1000, ge=100)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    worst_items: int = Field(5, ge=0)
    run_name: str | None = None
    output_dir: str | None = Field(
        None, description="Where the report goes; empty: beside the model version, else DATA_DIR/reports."
    )

    @model_validator(mode="after")
    def _check(self) -> EvaluationConfig:
        labels = [m.label for m in self.models]
        if not labels:
            raise ValueError("list at least one model to evaluate")
        if len(set(labels)) != len(labels):
            raise ValueError(f"model labels must be unique, got {labels}")
        return self


def load_config(data: dict | EvaluationConfig | None = None, **overrides) -> EvaluationConfig:
    """Validate a configuration; a bad one raises ``ConfigurationError`` naming each problem."""
    if isinstance(data, EvaluationConfig):
        data = data.model_dump()
    merged = {**(data or {}), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return EvaluationConfig(**merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise ConfigurationError(f"invalid evaluation config: {problems}") from None


Direction = Literal["higher", "lower"]


def direction(metric: str) -> Direction:
    return "higher" if METRICS[metric] else "lower"
