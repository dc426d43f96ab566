"""Run LLM Twin's ZenML pipelines.

Each pipeline lives in pipelines/NAME.py as a ZenML pipeline function of the same name, and reads
its run configuration and parameters from configs/NAME.yaml unless --config names another file.
end-to-end runs the main job: the stages listed in configs/end_to_end.yaml, in order. Names may be
written with hyphens or underscores (end_to_end, digital-data-etl).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import tempfile
import time
from pathlib import Path

import typer
import yaml

from llm_engineering.bootstrap import bootstrap
from llm_engineering.exceptions import ConfigurationError, LLMTwinError
from llm_engineering.infrastructure.log import configure_logging, heartbeat
from llm_engineering.infrastructure.zenml_env import configure_zenml
from llm_engineering.settings import get_settings
from pipelines._flow import wire_stores
from tools._cli import command_line, fail

app = command_line(__doc__, before_each=False)  # a single command: it applies LOG_LEVEL and wires the stores itself
ROOT = Path(__file__).resolve().parent.parent
END_TO_END = "end-to-end"
STAGE_KEYS = ("pipeline", "config", "overrides")


def available_pipelines() -> list[str]:
    return sorted(p.stem for p in (ROOT / "pipelines").glob("*.py") if not p.stem.startswith("_"))


def pipeline_name(name: str) -> str:
    """``name`` as the runner knows it: a pipeline module's name, or ``end-to-end`` for the main job;
    hyphens and underscores are the same, case does not matter. Anything else is refused with the
    accepted names."""
    key = name.strip().lower().replace("-", "_")
    if key == END_TO_END.replace("-", "_"):
        return END_TO_END
    if key in available_pipelines():
        return key
    raise ConfigurationError(f"unknown pipeline {name!r}; choose one of: {', '.join(_choices())}")


def _choices() -> list[str]:
    return [END_TO_END, *available_pipelines()]


def _stages(config: Path) -> list[dict]:
    try:
        content = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read {config}: {exc}") from None
    if isinstance(content, dict):
        _refuse_unknown(str(config), "key", content, ("stages",))
    stages = content.get("stages") if isinstance(content, dict) else None
    if not isinstance(stages, list) or not stages:
        raise ConfigurationError(f"{config} must list `stages:` (each with `pipeline:` and `config:`)")
    for i, stage in enumerate(stages):
        if not isinstance(stage, dict) or stage.get("pipeline") not in available_pipelines():
            raise ConfigurationError(f"{config}: stage {i} names no known pipeline ({stage!r})")
        _refuse_unknown(f"{config}: stage {i} ({stage['pipeline']})", "key", stage, STAGE_KEYS)
        path = ROOT / stage.get("config", f"configs/{stage['pipeline']}.yaml")
        if not path.is_file():
            raise ConfigurationError(f"{config}: stage {i} config {path} does not exist")
        if not isinstance(stage.get("overrides", {}), dict):
            raise ConfigurationError(f"{config}: stage {i} overrides must be a mapping")
        stage["config"] = path
    return stages


def _merge(base: dict, overrides: dict) -> dict:
    """``overrides`` laid over ``base``: mappings merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _stage_config(stage: dict, folder: Path) -> Path:
    """The stage's config file, or a copy with the stage's ``overrides`` merged in."""
    if not stage.get("overrides"):
        return stage["config"]

    merged = _merge(yaml.safe_load(stage["config"].read_text(encoding="utf-8")) or {}, stage["overrides"])
    path = folder / f"{stage['pipeline']}.yaml"
    path.write_text(yaml.safe_dump(merged, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def run_end_to_end(config: Path | None = None, no_cache: bool = False) -> list[tuple[str, float, str]]:
    """Run every stage of the main job in order; returns (pipeline, seconds, status) per stage."""

    stages = _stages(config or ROOT / "configs" / "end_to_end.yaml")
    timings = []
    with tempfile.TemporaryDirectory(prefix="llm-twin-stages-") as folder:
        for stage in stages:
            started = time.perf_counter()
            note = " with overrides" if stage.get("overrides") else ""
            position = f"[{len(timings) + 1}/{len(stages)}]"
            typer.secho(f"==> {position} {stage['pipeline']} ({_shown(stage['config'])}{note})", bold=True, err=True)
            try:
                with heartbeat(stage["pipeline"]):
                    run = run_pipeline(stage["pipeline"], _stage_config(stage, Path(folder)), no_cache)
                status = str(getattr(run, "status", "completed"))
            except Exception as exc:  # the stage failed: say which, keep the timings of the others
                typer.secho(f"error: {stage['pipeline']} failed: {type(exc).__name__}: {exc}", fg="red", err=True)
                status = "failed"
            timings.append((stage["pipeline"], time.perf_counter() - started, status))
            typer.secho(
                f"<== {position} {stage['pipeline']} {_state(status)} in {timings[-1][1]:.1f}s "
                f"(job so far {sum(t for _, t, _ in timings):.1f}s)",
                bold=True,
                err=True,
            )
            if not _succeeded(status):
                break
    return timings


def _shown(path: Path) -> Path:
    """``path`` relative to the project when it lies inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _state(status: str) -> str:
    return str(status).lower().rsplit(".", 1)[-1]


def _succeeded(status: str) -> bool:
    return _state(status) in ("completed", "finished", "cached")


def _latest_report() -> Path | None:
    reports = sorted(get_settings().DATA_DIR.resolve().glob("**/report.html"), key=lambda p: p.stat().st_mtime)
    return reports[-1] if reports else None


def _gate_verdict(report: Path | None) -> str | None:
    """The regression gate's status and message from the report beside ``report``."""
    summary = report.with_name("report.json") if report else None
    if summary is None or not summary.is_file():
        return None
    gate = json.loads(summary.read_text(encoding="utf-8")).get("gate") or {}
    return f"{gate.get('status', 'unknown')} — {gate.get('message', '')}" if gate else None


def _refuse_unknown(where: str, noun: str, mapping: dict, accepted, suffix: str = "") -> None:
    """One line naming the keys of ``mapping`` that are not ``accepted``, every accepted name, and
    the nearest accepted name of each unknown key that looks like a typo."""

    accepted = [str(name) for name in accepted]
    unknown = [str(key) for key in mapping if str(key) not in accepted]
    if not unknown:
        return
    near = {key: difflib.get_close_matches(key, accepted, n=1) for key in unknown}
    hints = [f"{match[0]} for {key}" if len(unknown) > 1 else match[0] for key, match in near.items() if match]
    plural = "s" if len(unknown) > 1 else ""
    raise ConfigurationError(
        f"{where}: unknown {noun}{plural} {', '.join(unknown)}{suffix}; accepted: {', '.join(accepted)}"
        + (f"; did you mean {', '.join(hints)}?" if hints else "")
    )


def _read_config(config: Path) -> dict:
    """The run configuration in ``config``; a key ZenML's run configuration does not have (which
    ZenML itself would silently ignore) is refused with the accepted keys."""
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration

    try:
        content = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read {config}: {exc}") from None
    if not isinstance(content, dict):
        raise ConfigurationError(f"{config}: a run configuration is a mapping of key: value")
    fields = PipelineRunConfiguration.model_fields
    _refuse_unknown(str(config), "key", content, sorted({*fields, *(f.alias for f in fields.values() if f.alias)}))
    return content


def _check_parameters(name: str, pipeline, config: Path) -> None:
    """Refuse ``parameters:`` the pipeline does not take, naming them and the ones it accepts."""

    parameters = _read_config(config).get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ConfigurationError(f"{config}: `parameters:` must be a mapping of name: value")
    accepted = inspect.signature(pipeline.entrypoint).parameters
    _refuse_unknown(str(config), "parameter", parameters, accepted, suffix=f" for {name}")


def run_pipeline(name: str, config: Path | None = None, no_cache: bool = False, run_name: str | None = None):
    """Run one pipeline with its YAML config; returns the ZenML pipeline run."""
    name = pipeline_name(name)
    if name == END_TO_END:
        raise ConfigurationError(f"{END_TO_END} is the main job, not one pipeline: run it with run_end_to_end()")
    config = config or ROOT / "configs" / f"{name}.yaml"
    if not config.is_file():
        raise ConfigurationError(f"config file {config} does not exist")
    configure_zenml(repo_root=ROOT)
    pipeline = getattr(importlib.import_module(f"pipelines.{name}"), name)
    _check_parameters(name, pipeline, config)
    options: dict = {"config_path": str(config)}
    if no_cache:
        options["enable_cache"] = False
    if run_name:
        options["run_name"] = run_name
    return pipeline.with_options(on_init=wire_stores, **options)()


@app.command(epilog="Pipelines: " + ", ".join(_choices()))
def main(
    pipeline: str = typer.Argument(
        ..., metavar="PIPELINE", help="A pipeline's name (listed below), or end-to-end for the main job."
    ),
    config: Path = typer.Option(
        None, "--config", "-c", metavar="FILE", help="YAML run configuration (default configs/PIPELINE.yaml)."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Re-run every step instead of reusing cached outputs."),
    run_name: str = typer.Option(None, "--run-name", metavar="NAME", help="Name of the ZenML run."),
) -> None:
    """Run PIPELINE with its YAML config, or end-to-end for the whole main job.

    A pipeline reads its run configuration from configs/PIPELINE.yaml unless --config names another
    file; end-to-end runs the stages listed in configs/end_to_end.yaml, in order. Hyphens and
    underscores in names are the same (end_to_end, digital-data-etl).
    """
    started = time.perf_counter()
    try:
        configure_logging()
        bootstrap()
        pipeline = pipeline_name(pipeline)
        if pipeline == END_TO_END:
            timings = run_end_to_end(config, no_cache)
        else:
            with heartbeat(pipeline):
                run = run_pipeline(pipeline, config, no_cache, run_name)
            timings = [(pipeline, time.perf_counter() - started, str(getattr(run, "status", "completed")))]
    except LLMTwinError as exc:
        fail(exc)
    except Exception as exc:  # a step failed: ZenML has logged its details above
        fail(f"{pipeline} failed: {type(exc).__name__}: {exc}", 1)
    for name, seconds, status in timings:
        typer.echo(f"{name:<32} {_state(status):<10} {seconds:8.1f}s")
    typer.echo(f"{'total':<32} {'':<10} {time.perf_counter() - started:8.1f}s")
    if not all(_succeeded(status) for _, _, status in timings):
        raise typer.Exit(1)
    if pipeline == END_TO_END:
        report = _latest_report()
        typer.echo(f"\nevaluation report: {report or 'not found'}")
        gate = _gate_verdict(report)
        if gate:
            typer.echo(f"regression gate:   {gate}")
        typer.echo("chat with the twin:  .venv/bin/poe run-inference-ml-service   then open http://127.0.0.1:8000/")


if __name__ == "__main__":
    app()
