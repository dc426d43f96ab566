"""Step: load the newest version of each named artifact and write it as ``<output_dir>/<name>.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from loguru import logger
from zenml import log_metadata, step

from llm_engineering.application.artifact_export import ArtifactExportError, to_jsonable, write_json_files


def available_artifact_names() -> list[str]:
    from zenml.client import Client
    from zenml.utils.pagination_utils import depaginate

    return sorted({artifact.name for artifact in depaginate(Client().list_artifacts)})


def check_artifact_names(artifact_names: list[str]) -> None:
    """ArtifactExportError listing the available names when any requested one has no version."""
    from zenml.client import Client

    client = Client()
    missing = [name for name in artifact_names if not client.list_artifact_versions(name=name, size=1).items]
    if missing:
        available = available_artifact_names()
        raise ArtifactExportError(
            f"no artifact named {', '.join(map(repr, missing))}; available: "
            + (", ".join(available) if available else "none (run a pipeline first)")
        )


def load_latest_as_json(artifact_names: list[str]) -> dict[str, object]:
    """Every named artifact's newest version, converted to JSON-compatible data (all or nothing)."""
    from zenml.client import Client

    check_artifact_names(artifact_names)
    client = Client()
    documents = {}
    for name in artifact_names:
        version = client.get_artifact_version(name)
        logger.info("exporting artifact {} version {}", name, version.version)
        try:
            data = version.load()
        except Exception as exc:  # the materializer's error, whatever it is, explained for this artifact
            raise ArtifactExportError(
                f"artifact {name!r} version {version.version} cannot be loaded here "
                f"({type(exc).__name__}: {exc}); is the code that produced it importable from this project?"
            ) from exc
        documents[name] = to_jsonable(data, where=name)
    return documents


@step(enable_cache=False)
def export_artifacts_to_json(artifact_names: list[str], output_dir: str) -> Annotated[list[str], "exported_files"]:
    documents = load_latest_as_json(artifact_names)
    paths = write_json_files(documents, Path(output_dir))
    log_metadata(
        metadata={
            "artifacts": len(paths),
            "output_dir": str(Path(output_dir).resolve()),
            "bytes": sum(p.stat().st_size for p in paths),
        },
        infer_artifact=True,
    )
    return [str(p) for p in paths]
