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
    if gate.failed:  # said here, loudly: the orchestrator reports only that the step failed
        logger.error("regression gate failed: {} (report: {})", gate.message, result.report_dir)
    else:
        logger.info("regression gate {}: {}", gate.status, gate.message)
    enforce_gate(gate, result.report_dir)
    return gate.status
