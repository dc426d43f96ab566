"""The evaluation pipeline: answers of each configured model on the test split, reference / style /
judge / retrieval metrics, an HTML+JSON report (and a human review sheet), then the regression gate.

Run: ``poe run-evaluation-pipeline`` (``python -m tools.run evaluating``) with ``configs/evaluating.yaml``.
"""

from typing import Any

from zenml import pipeline

from llm_engineering.application.evaluation import load_config
from steps.evaluating import (
    generate_answers,
    load_evaluation_samples,
    regression_gate,
    score_answers,
    write_evaluation_report,
)


@pipeline
def evaluating(evaluation: Any = None) -> None:
    # Validated here, before any step runs, so a bad config stops at once with a clear message.
    config = load_config(evaluation).model_dump()
    samples = load_evaluation_samples(config=config)
    runs = generate_answers(config=config, samples=samples)
    result = score_answers(config=config, samples=samples, runs=runs)
    report = write_evaluation_report(config=config, result=result)
    regression_gate(result=report)
