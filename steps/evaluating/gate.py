"""Step: fail the pipeline when the tuned model regressed beyond the configured thresholds."""

from typing import Annotated

from loguru import logger
from zenml import step

from llm_engineering.application.evaluation import EvaluationResult, GateResult, enforce_gate


@step(enable_cache=False)
def regression_gate(result: EvaluationResult) -> Annotated[str, "gate_status"]:
    gate = GateResult(**result.gate) if result.gate else None
    if gate is None:
        return "skipped"
    on_failure = (result.config.get("gate") or {}).get("on_failure", "fail")
    if gate.failed and on_failure == "fail":  # said here, loudly: the orchestrator reports only that the step failed
        logger.error("regression gate failed: {} (report: {})", gate.message, result.report_dir)
    elif not gate.failed:
        logger.info("regression gate {}: {}", gate.status, gate.message)
    enforce_gate(gate, result.report_dir, on_failure)
    return gate.status
