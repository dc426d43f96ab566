"""Regression gate: fail when the candidate (tuned) model is worse than the baseline — really worse.

Each rule names a metric, how much worse than the baseline the candidate may be (``max_regression``,
absolute, in the metric's own units; the direction — lower loss is better, higher ROUGE is better —
is known per metric) and what it requires:

* ``not_worse`` (default): the rule fails only when the candidate is *significantly* worse (the
  paired bootstrap interval of the per-item differences excludes 0, ``comparison.compare_metric``)
  and worse by more than ``max_regression``. A difference the items cannot tell from noise passes,
  and the gate says so ("no significant difference") instead of calling it better;
* ``better``: the rule passes only when the candidate is significantly better.

Without per-item values (a result built from summaries only) a rule compares the point estimates
and says that it did. Missing values fail a rule rather than pass it silently; when only one model
was evaluated (no tuned version yet) the gate is skipped and says so.
"""

from __future__ import annotations

from loguru import logger
from pydantic import BaseModel

from llm_engineering.application.evaluation.comparison import compare_metric
from llm_engineering.application.evaluation.config import METRICS, GateRule, GateSettings
from llm_engineering.application.evaluation.results import EvaluationResult
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
    require: str = "not_worse"
    verdict: str = "n/a"
    """better / worse / no significant difference (paired bootstrap), or n/a without per-item values."""
    interval: str = ""
    """The paired difference (candidate − baseline) with its interval, as text."""


class GateResult(BaseModel):
    status: str  # "passed" | "failed" | "skipped"
    baseline: str
    candidate: str
    rules: list[RuleOutcome] = []
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def _judge_rule(rule: GateRule, regression: float, verdict: str, candidate: str) -> tuple[bool, str]:
    beyond = regression > rule.max_regression + 1e-12
    if verdict == "n/a":  # no per-item values: point estimates only
        if beyond:
            allowed = rule.max_regression
            return False, f"{candidate} is worse by {regression:.4g} (allowed {allowed:.4g}; point estimates)"
        if rule.require == "better":
            return False, "significance unknown (no per-item values); the rule requires a significant improvement"
        return True, "not worse than allowed (point estimates; no per-item values to test significance)"
    if rule.require == "better":
        if verdict == "better":
            return True, "significantly better"
        return False, f"{verdict}; the rule requires a significant improvement"
    if verdict == "worse":
        if beyond:
            return False, f"significantly worse by {regression:.4g} (allowed {rule.max_regression:.4g})"
        return True, f"significantly worse by {regression:.4g}, within the tolerated {rule.max_regression:.4g}"
    if verdict == "better":
        return True, "significantly better"
    return True, "no significant difference (tolerated: the rule fails only on a significant regression)"


def check_gate(result: EvaluationResult, settings: GateSettings) -> GateResult:
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
        common = dict(metric=rule.metric, baseline=base, candidate=cand, max_regression=rule.max_regression)
        if base is None or cand is None:
            outcomes.append(
                RuleOutcome(
                    **common,
                    regression=None,
                    passed=False,
                    reason="metric missing (not computed or all items malformed)",
                    require=rule.require,
                )
            )
            continue
        regression = (base - cand) if METRICS[rule.metric] else (cand - base)
        paired = compare_metric(result, settings.baseline, settings.candidate, rule.metric)
        passed, reason = _judge_rule(rule, regression, paired.verdict, settings.candidate)
        outcomes.append(
            RuleOutcome(
                **common,
                regression=regression,
                passed=passed,
                reason=reason,
                require=rule.require,
                verdict=paired.verdict,
                interval=paired.as_text(4),
            )
        )
    failed = [o for o in outcomes if not o.passed]
    summary = "; ".join(f"{o.metric}: {o.reason}" for o in (failed or outcomes))
    return GateResult(
        status="failed" if failed else "passed",
        baseline=settings.baseline,
        candidate=settings.candidate,
        rules=outcomes,
        message=summary or "no rules",
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
