"""Step: the evaluation items (test split, capped by ``sample_limit``)."""

from typing import Annotated, Any

from zenml import log_metadata, step

from llm_engineering.application.evaluation import load_config, prepare_samples
from llm_engineering.application.evaluation.samples import EvalSample


@step(enable_cache=False)
def load_evaluation_samples(config: dict[str, Any]) -> Annotated[list[EvalSample], "evaluation_samples"]:
    samples = prepare_samples(load_config(config))
    log_metadata(
        metadata={"items": len(samples), "with_context": sum(bool(s.context) for s in samples)},
        artifact_name="evaluation_samples",
        infer_artifact=True,
    )
    return samples
