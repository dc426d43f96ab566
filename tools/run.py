"""Run LLM Twin's ZenML pipelines.

Each pipeline lives in ``pipelines/<name>.py`` as a ZenML ``@pipeline`` function of the same
name, and reads its parameters from ``configs/<name>.yaml`` unless ``--config`` says otherwise.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
ROOT = Path(__file__).resolve().parent.parent


def available_pipelines() -> list[str]:
    return sorted(p.stem for p in (ROOT / "pipelines").glob("*.py") if not p.stem.startswith("_"))


def run_pipeline(name: str, config: Path | None = None, no_cache: bool = False, run_name: str | None = None):
    """Run one pipeline with its YAML config; returns the ZenML pipeline run."""
    from llm_engineering.exceptions import ConfigurationError
    from llm_engineering.infrastructure.zenml_env import configure_zenml

    if name not in available_pipelines():
        raise ConfigurationError(f"unknown pipeline {name!r}; choose one of: {', '.join(available_pipelines())}")
    config = config or ROOT / "configs" / f"{name}.yaml"
    if not config.is_file():
        raise ConfigurationError(f"config file {config} does not exist")
    configure_zenml(repo_root=ROOT)
    pipeline = getattr(importlib.import_module(f"pipelines.{name}"), name)
    options: dict = {"config_path": str(config)}
    if no_cache:
        options["enable_cache"] = False
    if run_name:
        options["run_name"] = run_name
    return pipeline.with_options(**options)()


@app.command()
def main(
    pipeline: str = typer.Argument(..., help="Pipeline to run (see --list)."),
    config: Path = typer.Option(None, "--config", "-c", help="YAML run configuration (default configs/<pipeline>.yaml)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Re-run every step instead of reusing cached outputs."),
    run_name: str = typer.Option(None, help="Name of the ZenML run."),
) -> None:
    """Run PIPELINE (one of the modules in pipelines/)."""
    from llm_engineering.exceptions import LLMTwinError

    started = time.perf_counter()
    try:
        run = run_pipeline(pipeline, config, no_cache, run_name)
    except LLMTwinError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    status = getattr(run, "status", "finished")
    typer.echo(f"pipeline {pipeline}: {status} in {time.perf_counter() - started:.1f}s")
    if str(status).lower() not in ("completed", "finished", "cached", "executionstatus.completed"):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
