"""Export ZenML artifacts as JSON: the newest version of each named artifact to ``<output_dir>/<name>.json``.

Run: ``poe run-export-artifact-to-json-pipeline`` (``python -m tools.run export_artifact_to_json``)
with ``configs/export_artifact_to_json.yaml``.
"""

from typing import Any

from zenml import pipeline
from zenml.enums import ExecutionMode

from llm_engineering.application.artifact_export import validate_export_parameters
from pipelines._flow import name_run
from steps.export.export_artifacts import check_artifact_names, export_artifacts_to_json


# Fail fast: a step's own error (e.g. an artifact that cannot be loaded here) reaches the command line.
@pipeline(execution_mode=ExecutionMode.FAIL_FAST)
def export_artifact_to_json(artifact_names: Any = None, output_dir: Any = "output") -> None:
    # Checked before any step runs, so a typo stops at once with the list of names that exist.
    artifact_names, output_dir = validate_export_parameters(artifact_names, output_dir)
    name_run("export")
    check_artifact_names(artifact_names)
    export_artifacts_to_json(artifact_names=artifact_names, output_dir=output_dir)
