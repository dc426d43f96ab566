"""Step: check the regression gate, write the HTML/JSON report (and review sheet), link it.

The report is written beside the evaluated registry version (or in DATA_DIR/reports/<run>/) and
copied to DATA_DIR/reports/<run>/ in the first case too, so every report is found in one folder.
Its HTML is also an artifact of the run, previewed as the page itself in the ZenML dashboard.
"""

import shutil
from pathlib import Path
from typing import Annotated, Any

from zenml import log_metadata, step
from zenml.metadata.metadata_types import Uri
from zenml.types import HTMLString

from llm_engineering.application.evaluation import EvaluationResult, check_gate, load_config
from llm_engineering.application.evaluation.report import write_report
from llm_engineering.application.evaluation.review import import_review_sheet
from llm_engineering.settings import get_settings


@step(enable_cache=False)
def write_evaluation_report(
    config: dict[str, Any], result: EvaluationResult
) -> tuple[Annotated[EvaluationResult, "evaluation_report"], Annotated[HTMLString, "evaluation_report_html"]]:
    settings = load_config(config)
    result.gate = check_gate(result, settings.gate).model_dump()
    if settings.review.import_path:
        result.review_agreement = import_review_sheet(settings.review.import_path).model_dump()
    paths = write_report(result)
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


def copy_to_reports(folder: Path, run_name: str) -> Path:
    """``folder`` (a written report) copied to DATA_DIR/reports/<run_name>/ unless it is that folder."""
    target = get_settings().DATA_DIR / "reports" / run_name
    if target.resolve() != folder.resolve():
        shutil.copytree(folder, target, dirs_exist_ok=True)
    return target
