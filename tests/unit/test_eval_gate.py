"""Regression gate and configuration: the gate fails exactly when the tuned model is worse than
allowed, and a bad configuration stops with a message naming the problem."""

from __future__ import annotations

import pytest

from llm_engineering.application.evaluation import RegressionGateError, check_gate, enforce_gate, load_config
from llm_engineering.application.evaluation.config import GateSettings
from llm_engineering.application.evaluation.runner import EvaluationResult, ModelSummary
from llm_engineering.application.evaluation.stats import Estimate
from llm_engineering.exceptions import ConfigurationError


def _result(base: dict[str, float | None], tuned: dict[str, float | None] | None) -> EvaluationResult:
    def summary(label, metrics):
        return ModelSummary(
            label=label,
            model_id=label,
            version=label,
            model_dir=f"/m/{label}",
            metrics={k: Estimate(value=v, n=3) for k, v in metrics.items()},
        )

    models = [summary("base", base)] + ([summary("tuned", tuned)] if tuned is not None else [])
    return EvaluationResult(run_name="t", created_at="now", dataset="d", config={}, samples=[], models=models, items=[])


def _gate(*rules) -> GateSettings:
    return GateSettings(rules=[{"metric": m, "max_regression": r} for m, r in rules])


def test_gate_fails_when_tuned_loss_is_higher_than_base():
    gate = check_gate(_result({"loss": 2.0}, {"loss": 2.3}), _gate(("loss", 0.0)))
    assert gate.status == "failed"
    assert gate.rules[0].regression == pytest.approx(0.3)
    with pytest.raises(RegressionGateError, match="loss") as info:
        enforce_gate(gate, "/reports/x/report.html")
    assert "/reports/x/report.html" in str(info.value)


def test_a_warn_only_gate_reports_the_failure_without_raising():
    from loguru import logger

    gate = check_gate(_result({"loss": 2.0}, {"loss": 2.3}), _gate(("loss", 0.0)))
    assert gate.failed
    messages: list[str] = []
    handler = logger.add(messages.append, level="WARNING")
    try:
        enforce_gate(gate, "/reports/x/report.html", on_failure="warn")
    finally:
        logger.remove(handler)
    assert any("regression gate failed (warn only)" in m for m in messages)
    with pytest.raises(ConfigurationError, match="on_failure"):
        load_config({"gate": {"on_failure": "ignore"}})


def test_gate_passes_when_tuned_is_better_or_within_tolerance():
    better = check_gate(
        _result({"loss": 2.0, "rouge_l": 0.30}, {"loss": 1.5, "rouge_l": 0.35}), _gate(("loss", 0.0), ("rouge_l", 0.0))
    )
    assert better.status == "passed"
    enforce_gate(better)  # does not raise
    tolerated = check_gate(_result({"rouge_l": 0.30}, {"rouge_l": 0.28}), _gate(("rouge_l", 0.05)))
    assert tolerated.status == "passed"
    too_much = check_gate(_result({"rouge_l": 0.30}, {"rouge_l": 0.20}), _gate(("rouge_l", 0.05)))
    assert too_much.status == "failed"  # higher-is-better metric: a drop is the regression


def test_gate_fails_on_a_missing_metric_instead_of_passing_silently():
    gate = check_gate(
        _result({"loss": 2.0, "judge_accuracy": 2.0}, {"loss": 1.0, "judge_accuracy": None}),
        _gate(("loss", 0.0), ("judge_accuracy", 0.0)),
    )
    assert gate.status == "failed"
    assert "missing" in gate.message


def test_gate_is_skipped_without_a_tuned_model_or_when_disabled():
    assert check_gate(_result({"loss": 2.0}, None), _gate(("loss", 0.0))).status == "skipped"
    disabled = GateSettings(enabled=False)
    assert check_gate(_result({"loss": 2.0}, {"loss": 9.0}), disabled).status == "skipped"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"gate": {"rules": [{"metric": "vibes"}]}}, "unknown gate metric"),
        ({"models": [{"label": "a"}, {"label": "a"}]}, "unique"),
        ({"models": []}, "at least one model"),
        ({"sample_limit": 0}, "sample_limit"),
        ({"gate": {"rules": [{"metric": "loss", "max_regression": -1}]}}, "max_regression"),
    ],
)
def test_bad_configuration_is_a_clear_error(config, message):
    with pytest.raises(ConfigurationError, match=message):
        load_config(config)


def test_shipped_config_is_valid():
    from pathlib import Path

    import yaml

    data = yaml.safe_load((Path(__file__).parents[2] / "configs" / "evaluating.yaml").read_text())
    config = load_config(data["parameters"]["evaluation"])
    assert [m.label for m in config.models] == ["base", "tuned"]
    assert config.models[1].model_id == "latest"
