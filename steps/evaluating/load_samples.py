"""Step: the evaluation items (test split, capped by ``sample_limit``)."""

from typing import Annotated, Any

from datasets import DatasetDict
from zenml import log_metadata, step

from llm_engineering.application.evaluation import load_config, prepare_samples
from llm_engineering.application.evaluation.samples import EvalSample


@step(enable_cache=False)
def load_evaluation_samples(
    config: dict[str, Any], instruct_datasets: DatasetDict | None = None
) -> Annotated[list[EvalSample], "evaluation_samples"]:
    # ``instruct_datasets``: the generated dataset's ZenML artifact, an input for the run graph; the
    # configured dataset (its folder) is what is read.
    samples = prepare_samples(load_config(config))
    log_metadata(
        metadata={"items": len(samples), "with_context": sum(bool(s.context) for s in samples)},
        artifact_name="evaluation_samples",
        infer_artifact=True,
    )
    return samples
