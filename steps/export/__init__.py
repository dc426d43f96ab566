"""Steps that export ZenML artifacts (``export_artifacts``) and the ZenML-free JSON conversion (``serialize``)."""
