"""Export ZenML artifacts as JSON: the newest version of each named artifact to ``<output_dir>/<name>.json``.

Run: ``poe run-export-artifact-to-json-pipeline`` (``python -m tools.run export_artifact_to_json``)
with ``configs/export_artifact_to_json.yaml``.
"""

from typing import Any

from zenml import pipeline

from steps.export import export_artifacts_to_json
from steps.export.export_artifacts import check_artifact_names
from steps.export.serialize import ArtifactExportError


@pipeline
def export_artifact_to_json(artifact_names: Any = None, output_dir: Any = "output") -> None:
    # Checked before any step runs, so a typo stops at once with the list of names that exist.
    if (
        not isinstance(artifact_names, list)
        or not artifact_names
        or not all(isinstance(name, str) and name.strip() for name in artifact_names)
    ):
        raise ArtifactExportError("artifact_names must be a non-empty list of artifact names")
    if not isinstance(output_dir, str) or not output_dir.strip():
        raise ArtifactExportError("output_dir must be a folder path")
    check_artifact_names(artifact_names)
    export_artifacts_to_json(artifact_names=artifact_names, output_dir=output_dir)
