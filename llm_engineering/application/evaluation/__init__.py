"""Model evaluation: reference, style, judge and retrieval metrics, a report, a human review loop
and a regression gate. ``evaluate_twin(config)`` runs it all; the pipeline runs it step by step."""

from llm_engineering.application.evaluation.config import EvaluationConfig, load_config
from llm_engineering.application.evaluation.gate import GateResult, RegressionGateError, check_gate, enforce_gate
from llm_engineering.application.evaluation.results import EvaluationResult
from llm_engineering.application.evaluation.runner import (
    conclude,
    evaluate_twin,
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
    "conclude",
    "enforce_gate",
    "evaluate_twin",
    "load_config",
    "prepare_samples",
    "run_models",
    "score_runs",
]
