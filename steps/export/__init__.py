from steps.export.export_artifacts import export_artifacts_to_json

__all__ = ["export_artifacts_to_json"]
