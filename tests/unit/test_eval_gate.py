"""Regression gate and configuration: the gate fails exactly when the tuned model is worse than
allowed, and a bad configuration stops with a message naming the problem."""

from __future__ import annotations

import pytest

from llm_engineering.application.evaluation import RegressionGateError, check_gate, enforce_gate, load_config
from llm_engineering.application.evaluation.config import GateSettings
from llm_engineering.application.evaluation.results import EvaluationResult, ModelSummary
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


# --- significance: verdict, bolding and gate from paired per-item values --------------------------


def _scored(base_rouge: list[float], tuned_rouge: list[float], config: dict | None = None) -> EvaluationResult:
    """A result with per-item ROUGE-L for base and tuned on the same items (summaries from them)."""
    from llm_engineering.application.evaluation.results import ItemScore
    from llm_engineering.application.evaluation.samples import EvalSample
    from llm_engineering.application.evaluation.stats import bootstrap_mean

    samples = [EvalSample(id=f"s{i}", instruction=f"q{i}", reference=f"r{i}") for i in range(len(base_rouge))]
    items, models = [], []
    for label, values in (("base", base_rouge), ("tuned", tuned_rouge)):
        items += [
            ItemScore(sample_id=s.id, model=label, answer=f"{label} {s.id}", metrics={"rouge_l": v})
            for s, v in zip(samples, values, strict=True)
        ]
        models.append(
            ModelSummary(
                label=label,
                model_id=label,
                version=label,
                model_dir=f"/m/{label}",
                metrics={"rouge_l": bootstrap_mean(values)},
            )
        )
    return EvaluationResult(
        run_name="t",
        created_at="now",
        dataset="d",
        config=load_config(config or {}).model_dump(),
        samples=samples,
        models=models,
        items=items,
    )


NOISY = [0.31, 0.12, 0.45, 0.27, 0.38, 0.22, 0.19, 0.41, 0.30, 0.25]


def test_identical_models_get_no_significant_difference_and_no_bold():
    from llm_engineering.application.evaluation.report import render_html

    result = _scored(NOISY, list(NOISY))
    html = render_html(result)
    verdict = html.split('id="verdict"')[1].split("</p>")[0]
    assert "tuned vs base: overlap with the references no significant difference" in verdict
    assert 'class="best"' not in html  # nothing is bold when nothing differs
    gate = check_gate(result, _gate(("rouge_l", 0.0)))
    assert gate.status == "passed" and "no significant difference" in gate.message


def test_overlapping_intervals_but_a_consistent_paired_gain_is_better_and_bold():
    from llm_engineering.application.evaluation.report import render_html

    result = _scored(NOISY, [v + 0.05 for v in NOISY])  # per-model intervals overlap; every item gains
    base, tuned = (m.metrics["rouge_l"] for m in result.models)
    assert tuned.low < base.high  # the old rule ("intervals overlap") could not tell
    html = render_html(result)
    assert "overlap with the references better" in html.split('id="verdict"')[1].split("</p>")[0]
    row = html.split("<td>rouge_l</td>")[1].split("</tr>")[0]
    assert row.count('class="best"') == 1 and row.index('class="best"') > row.index(base.as_text())
    gate = check_gate(result, GateSettings(rules=[{"metric": "rouge_l", "require": "better"}]))
    assert gate.status == "passed" and "significantly better" in gate.message


def test_noise_that_looks_better_is_not_called_better():
    shuffled = [0.25, 0.41, 0.19, 0.31, 0.22, 0.45, 0.38, 0.12, 0.30, 0.29]  # NOISY's values, other items
    result = _scored(NOISY, shuffled)
    assert result.metric("tuned", "rouge_l") > result.metric("base", "rouge_l")  # a higher point estimate
    from llm_engineering.application.evaluation.report import render_html

    assert 'class="best"' not in render_html(result)
    strict = check_gate(result, GateSettings(rules=[{"metric": "rouge_l", "require": "better"}]))
    assert strict.status == "failed" and "requires a significant improvement" in strict.message


def test_gate_fails_only_on_a_significant_regression_beyond_tolerance():
    worse = _scored(NOISY, [v - 0.1 for v in NOISY])
    failed = check_gate(worse, _gate(("rouge_l", 0.05)))
    assert failed.status == "failed" and "significantly worse by 0.1" in failed.message
    tolerated = check_gate(worse, _gate(("rouge_l", 0.2)))
    assert tolerated.status == "passed" and "within the tolerated" in tolerated.message
    noisy_drop = _scored(NOISY, [v - 0.1 if i == 0 else v for i, v in enumerate(NOISY)])
    assert check_gate(noisy_drop, _gate(("rouge_l", 0.0))).status == "passed"  # one item: not significant
