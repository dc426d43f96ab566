"""Step: reference, style, judge and retrieval metrics with bootstrap intervals."""

from typing import Annotated, Any

from zenml import log_metadata, step

from llm_engineering.application.evaluation import EvaluationResult, load_config, score_runs
from llm_engineering.application.evaluation.generation import ModelRun
from llm_engineering.application.evaluation.samples import EvalSample


@step(enable_cache=False)
def score_answers(
    config: dict[str, Any], samples: list[EvalSample], runs: list[ModelRun]
) -> Annotated[EvaluationResult, "evaluation_result"]:
    result = score_runs(load_config(config), samples, runs)
    log_metadata(
        metadata={m.label: {k: v.value for k, v in m.metrics.items() if v.value is not None} for m in result.models},
        artifact_name="evaluation_result",
        infer_artifact=True,
    )
    return result
