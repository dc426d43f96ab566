"""Model evaluation: reference, style, judge and retrieval metrics, a report, a human review loop
and a regression gate. ``evaluate(config)`` runs it all; the pipeline runs it step by step."""

from llm_engineering.application.evaluation.config import EvaluationConfig, load_config
from llm_engineering.application.evaluation.gate import GateResult, RegressionGateError, check_gate, enforce_gate
from llm_engineering.application.evaluation.runner import (
    EvaluationResult,
    evaluate,
    prepare_samples,
    run_models,
    score_runs,
)

__all__ = [
    "EvaluationConfig",
    "EvaluationResult",
    "GateResult",
    "RegressionGateError",
    "check_gate",
    "enforce_gate",
    "evaluate",
    "load_config",
    "prepare_samples",
    "run_models",
    "score_runs",
]
