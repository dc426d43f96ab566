"""Step: every configured model's answers and reference loss (cached per model version and item)."""

from typing import Annotated, Any

from zenml import log_metadata, step

from llm_engineering.application.evaluation import load_config, run_models
from llm_engineering.application.evaluation.generation import ModelRun, mean_loss
from llm_engineering.application.evaluation.samples import EvalSample


@step(enable_cache=False)
def generate_answers(
    config: dict[str, Any], samples: list[EvalSample], model_version: str | None = None
) -> Annotated[list[ModelRun], "model_runs"]:
    # ``model_version``: the evaluated registry version's ZenML artifact (from the training run), an input
    # for the run graph; the configured model ids are what is loaded.
    runs = run_models(load_config(config), samples)
    metadata = {}
    for run in runs:
        loss, perplexity, tokens = mean_loss(run)
        metadata[run.label] = {
            "version": run.version,
            "loss": loss if loss is not None else "n/a",
            "perplexity": perplexity if perplexity is not None else "n/a",
            "answer_tokens": tokens,
            "generation_seconds": round(run.generation_seconds, 1),
            "cached_items": run.cached_items,
        }
    log_metadata(metadata=metadata, artifact_name="model_runs", infer_artifact=True)
    return runs
