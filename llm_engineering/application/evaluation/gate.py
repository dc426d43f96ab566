"""Regression gate: fail when the candidate (tuned) model is worse than the baseline.

Each rule names a metric and how much worse than the baseline the candidate may be (absolute, in
the metric's own units; the direction — lower loss is better, higher ROUGE is better — is known
per metric). Missing values fail a rule rather than pass it silently; when only one model was
evaluated (no tuned version yet) the gate is skipped and says so.
"""

from __future__ import annotations

from loguru import logger
from pydantic import BaseModel

from llm_engineering.application.evaluation.config import METRICS, GateSettings
from llm_engineering.exceptions import LLMTwinError


class RegressionGateError(LLMTwinError):
    """The candidate model regressed against the baseline beyond the configured tolerance."""


class RuleOutcome(BaseModel):
    metric: str
    baseline: float | None
    candidate: float | None
    max_regression: float
    regression: float | None
    """How much worse the candidate is (positive = worse), in the metric's units."""
    passed: bool
    reason: str


class GateResult(BaseModel):
    status: str  # "passed" | "failed" | "skipped"
    baseline: str
    candidate: str
    rules: list[RuleOutcome] = []
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def check_gate(result, settings: GateSettings) -> GateResult:
    """Apply ``settings`` to an ``EvaluationResult``."""
    labels = [m.label for m in result.models]
    if not settings.enabled:
        return GateResult(
            status="skipped", baseline=settings.baseline, candidate=settings.candidate, message="gate disabled"
        )
    if settings.candidate not in labels or settings.baseline not in labels:
        return GateResult(
            status="skipped",
            baseline=settings.baseline,
            candidate=settings.candidate,
            message=f"gate needs models {settings.baseline!r} and {settings.candidate!r}; evaluated {labels}",
        )
    outcomes: list[RuleOutcome] = []
    for rule in settings.rules:
        base = result.metric(settings.baseline, rule.metric)
        cand = result.metric(settings.candidate, rule.metric)
        if base is None or cand is None:
            outcomes.append(
                RuleOutcome(
                    metric=rule.metric,
                    baseline=base,
                    candidate=cand,
                    max_regression=rule.max_regression,
                    regression=None,
                    passed=False,
                    reason="metric missing (not computed or all items malformed)",
                )
            )
            continue
        regression = (base - cand) if METRICS[rule.metric] else (cand - base)
        passed = regression <= rule.max_regression + 1e-12
        outcomes.append(
            RuleOutcome(
                metric=rule.metric,
                baseline=base,
                candidate=cand,
                max_regression=rule.max_regression,
                regression=regression,
                passed=passed,
                reason="ok"
                if passed
                else f"{settings.candidate} is worse by {regression:.4g} (allowed {rule.max_regression:.4g})",
            )
        )
    failed = [o for o in outcomes if not o.passed]
    return GateResult(
        status="failed" if failed else "passed",
        baseline=settings.baseline,
        candidate=settings.candidate,
        rules=outcomes,
        message="; ".join(f"{o.metric}: {o.reason}" for o in failed) or "every rule passed",
    )


def enforce_gate(gate: GateResult, report_location: str | None = None, on_failure: str = "fail") -> None:
    """Raise ``RegressionGateError`` for a failed gate (the pipeline then fails);
    with ``on_failure="warn"`` the failure is logged as a warning instead."""
    if gate.failed and on_failure == "warn":
        where = f" (report: {report_location})" if report_location else ""
        logger.warning("regression gate failed (warn only): {}{}", gate.message, where)
        return
    if gate.failed:
        where = f" (report: {report_location})" if report_location else ""
        raise RegressionGateError(
            f"regression gate failed for {gate.candidate} vs {gate.baseline}: {gate.message}{where}"
        )
