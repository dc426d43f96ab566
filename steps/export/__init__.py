"""The step that exports ZenML artifacts as JSON files (the conversion itself is ``application.artifact_export``)."""
