"""How the pipelines connect in ZenML: stores wired in every step's process, one Model version per
main job, hand-off artifacts, run names.

Called from inside a pipeline function (while ZenML compiles it), so a config's ``model:`` and
``run_name:`` are already known and can be completed before the run starts. The stores (SQLite
warehouse, Qdrant, dataset and registry folders) stay the source of truth; the artifacts passed
here make each hand-off visible and versioned in the dashboard.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loguru import logger

from llm_engineering.bootstrap import bootstrap


def wire_stores() -> None:
    """The pipelines' ``on_init`` hook: ZenML runs it once in each process that runs steps (this one
    with the local orchestrator, each step's container on a remote stack) before the steps, so
    every step finds the stores wired."""
    bootstrap()


def _pipeline():
    from zenml.pipelines.compilation_context import PipelineCompilationContext

    return PipelineCompilationContext.get().pipeline


def join_twin_model(label: str, opens: bool = False) -> str | None:
    """Tie this run to a version of the config's ZenML Model (the twin) and give it a short name.

    ``opens``: this stage starts a new version (instruct dataset generation, the first stage of
    the twin in the main job); the later stages join the newest version, or open one when none
    exists yet. Returns the version's name (None when the config names no model).
    """
    from zenml import Model

    pipeline = _pipeline()
    model = pipeline.configuration.model
    version = None
    if model is not None and model.version is None:
        version = None if opens else _newest_version(model.name)
        if version is None:  # open it now, so the run's name can carry it
            version = _open_version(model)
        _set_model(pipeline, Model(name=model.name, version=version))
        logger.info("ZenML model {} version {}", model.name, version)
    elif model is not None:
        version = str(model.version)
    name_run(f"{label} v{version}" if version else label)
    return version


# While a pipeline is being defined ZenML answers its get_* client calls lazily (at run time);
# the list_* and create_* calls below answer now.
def _newest_version(model_name: str) -> str | None:
    from zenml.client import Client

    found = Client().list_model_versions(model=model_name, sort_by="desc:number", size=1).items
    if not found:
        logger.info("no version of the ZenML model {} yet: this run opens one", model_name)
    return found[0].name if found else None


def _open_version(model) -> str:
    from zenml.client import Client
    from zenml.models import ModelVersionRequest

    client = Client()
    known = client.list_models(name=model.name).items
    model_id = (
        known[0].id
        if known
        else client.create_model(name=model.name, description=model.description, tags=model.tags).id
    )
    request = ModelVersionRequest(
        project=client.active_project.id, model=model_id, description=model.description, tags=model.tags
    )
    return client.zen_store.create_model_version(request).name


def _set_model(pipeline, model) -> None:
    # ZenML 0.98 applies the config file's ``model:`` again when it compiles the run, so the
    # completed model replaces it there too; comparing it with the file's would look it up lazily.
    with pipeline.__suppress_configure_warnings__():
        pipeline.configure(model=model, merge=False)
    if "model" in pipeline._from_config_file:
        pipeline._from_config_file["model"] = model


def name_run(label: str) -> None:
    """A short, readable run name (``<label> <MM-DD HH:MM:SS>``) unless the config or --run-name set one."""
    pipeline = _pipeline()
    if pipeline._run_args.get("run_name") or pipeline._from_config_file.get("run_name"):
        return
    pipeline._run_args["run_name"] = f"{label} {datetime.now(UTC):%m-%d %H:%M:%S}"


def newest_artifact(name: str, matches=None) -> Any | None:
    """The newest version of artifact ``name`` (for which ``matches(metadata)`` holds), or None.

    Passed as a step input it appears in the run graph as that step's input.
    """
    from zenml.client import Client

    versions = Client().list_artifact_versions(artifact=name, sort_by="desc:created", size=50, hydrate=True)
    for version in versions.items:
        if matches is None or matches(version.run_metadata or {}):
            return version
    return None


def dataset_artifact(name: str, folder: str | Path) -> Any | None:
    """The dataset artifact (``instruct_datasets`` / ``preference_datasets``) saved from ``folder``.

    None, with a note, when that dataset was not made by a ZenML run here (a folder made by hand,
    or a ZenML store that was reset): the step then reads the folder alone.
    """
    version = Path(folder).name  # a generated dataset's folder is named by its version
    found = newest_artifact(name, lambda m: (m.get("dataset") or {}).get("version") == version)
    if found is None:
        logger.info("no ZenML artifact {} for {}: the run reads the folder without it", name, folder)
    return found


def model_artifact(version: str) -> Any | None:
    """The ``model_version`` artifact that recorded registry version ``version`` (e.g. v0003), or None."""
    return newest_artifact("model_version", lambda m: (m.get("registry") or {}).get("version") == version)


def feature_report_artifact() -> Any | None:
    """The newest feature pipeline's report: what the vector store held when dataset generation reads it."""
    found = newest_artifact("feature_report")
    if found is None:
        logger.info("no feature_engineering run recorded in ZenML: the vector store is read as it is")
    return found
