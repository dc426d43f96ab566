"""The evaluation pipeline: answers of each configured model on the test split, reference / style /
judge / retrieval metrics, an HTML+JSON report (and a human review sheet), then the regression gate.

Run: ``poe run-evaluation-pipeline`` (``python -m tools.run evaluating``) with ``configs/evaluating.yaml``.
"""

import re
from typing import Any

from zenml import pipeline

from llm_engineering.application.dataset.store import resolve_dataset_path
from llm_engineering.application.evaluation import load_config
from llm_engineering.model.registry import get_registry
from pipelines._flow import dataset_artifact, join_twin_model, model_artifact
from steps.evaluating import (
    generate_answers,
    load_evaluation_samples,
    regression_gate,
    score_answers,
    twin_overview,
    write_evaluation_report,
)


@pipeline
def evaluating(evaluation: Any = None) -> None:
    # Validated here, before any step runs, so a bad config stops at once with a clear message.
    config = load_config(evaluation).model_dump()
    join_twin_model("evaluation")
    samples = load_evaluation_samples(config=config, instruct_datasets=_dataset_artifact(config["dataset"]))
    runs = generate_answers(config=config, samples=samples, model_version=_model_artifact(config["models"]))
    result = score_answers(config=config, samples=samples, runs=runs)
    report, _ = write_evaluation_report(config=config, result=result)
    twin_overview(after="write_evaluation_report")  # before the gate, which may stop the run
    regression_gate(result=report, after="twin_overview")


def _dataset_artifact(dataset: str):
    """The ZenML artifact of the generated dataset the samples come from (None for a file or a hand-made folder)."""
    try:
        folder = resolve_dataset_path(dataset)
    except Exception:  # a JSON file, or nothing generated yet: the step says what is wrong
        return None
    return dataset_artifact("instruct_datasets", folder)


def _model_artifact(models: list[dict]):
    """The ZenML artifact of the first evaluated registry version (``latest`` or ``vNNNN``), if any."""
    for model in models:
        model_id = str(model.get("model_id") or "")
        if model_id == "latest":
            newest = get_registry().latest()
            model_id = newest.version if newest is not None else ""
        if re.fullmatch(r"v\d+", model_id):
            return model_artifact(model_id)
    return None
