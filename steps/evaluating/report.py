"""Step: check the regression gate, write the HTML/JSON report (and review sheet), link it.

The report is written beside the evaluated registry version (or in DATA_DIR/reports/<run>/) and
copied to DATA_DIR/reports/<run>/ in the first case too, so every report is found in one folder.
Its HTML is also an artifact of the run, previewed as the page itself in the ZenML dashboard.
"""

from pathlib import Path
from typing import Annotated, Any

from zenml import log_metadata, step
from zenml.metadata.metadata_types import Uri
from zenml.types import HTMLString

from llm_engineering.application.evaluation import EvaluationResult, conclude, load_config
from llm_engineering.application.evaluation.report import copy_to_reports


@step(enable_cache=False)
def write_evaluation_report(
    config: dict[str, Any], result: EvaluationResult
) -> tuple[Annotated[EvaluationResult, "evaluation_report"], Annotated[HTMLString, "evaluation_report_html"]]:
    paths = conclude(result, load_config(config))
    copy = copy_to_reports(Path(paths.folder), result.run_name)
    log_metadata(
        metadata={
            "report_html": Uri(f"file://{paths.html}"),
            "report_json": Uri(f"file://{paths.json_path}"),
            "review_sheet": Uri(f"file://{paths.review_csv}") if paths.review_csv else "none",
            "reports_folder": Uri(f"file://{copy}"),
            "gate": result.gate["status"],
        },
        artifact_name="evaluation_report",
        infer_artifact=True,
    )
    return result, HTMLString(Path(paths.html).read_text(encoding="utf-8"))
