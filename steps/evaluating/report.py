"""Step: check the regression gate, write the HTML/JSON report (and review sheet), link it."""

from typing import Annotated, Any

from zenml import log_metadata, step
from zenml.metadata.metadata_types import Uri

from llm_engineering.application.evaluation import EvaluationResult, check_gate, load_config
from llm_engineering.application.evaluation.report import write_report
from llm_engineering.application.evaluation.review import import_review_sheet


@step(enable_cache=False)
def write_evaluation_report(
    config: dict[str, Any], result: EvaluationResult
) -> Annotated[EvaluationResult, "evaluation_report"]:
    settings = load_config(config)
    result.gate = check_gate(result, settings.gate).model_dump()
    if settings.review.import_path:
        result.review_agreement = import_review_sheet(settings.review.import_path).model_dump()
    paths = write_report(result)
    log_metadata(
        metadata={
            "report_html": Uri(f"file://{paths.html}"),
            "report_json": Uri(f"file://{paths.json_path}"),
            "review_sheet": Uri(f"file://{paths.review_csv}") if paths.review_csv else "none",
            "gate": result.gate["status"],
        },
        artifact_name="evaluation_report",
        infer_artifact=True,
    )
    return result
