"""The local ZenML dashboard, offline: browse pipeline runs, steps and artifacts on 127.0.0.1.

ZenML keeps its state in DATA_DIR/zenml (or ZENML_CONFIG_PATH); the dashboard reads the same store.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from llm_engineering.infrastructure.zenml_dashboard import (
    DashboardError,
    dashboard_status,
    runs_page_url,
    serve_dashboard_blocking,
    start_dashboard,
    stop_dashboard,
)
from llm_engineering.infrastructure.zenml_env import configure_zenml
from tools._cli import command_line, fail

app = command_line(__doc__)
ROOT = Path(__file__).resolve().parent.parent


def _configure() -> None:
    configure_zenml(repo_root=ROOT)


def _announce(url: str) -> None:
    typer.echo(f"ZenML dashboard: {runs_page_url(url)}")


@app.command()
def up(
    port: int = typer.Option(8237, "--port", min=1, max=65535, metavar="PORT", help="TCP port on 127.0.0.1."),
    blocking: bool = typer.Option(False, "--blocking", help="Run in this terminal until Ctrl+C instead of a daemon."),
    connect: bool = typer.Option(
        False,
        "--connect",
        help="Also route this project's ZenML client through the server (as zenml login --local does).",
    ),
    timeout: float = typer.Option(
        60.0, "--timeout", min=1, metavar="SECONDS", help="Seconds to wait for the server to answer."
    ),
) -> None:
    """Start the dashboard (or reuse a running one) and print its URL.

    The URL opens the list of pipeline runs.
    """
    if blocking and connect:
        fail("--connect needs the background server; leave out --blocking")
    _configure()
    try:
        if blocking:
            typer.echo("serving the ZenML dashboard in this terminal; press Ctrl+C to stop it")
            serve_dashboard_blocking(port=port, timeout_s=timeout, on_ready=_announce)
        else:
            start_dashboard(port=port, connect=connect, timeout_s=timeout, on_ready=_announce)
    except DashboardError as exc:
        fail(exc)


@app.command()
def down() -> None:
    """Stop the dashboard; the ZenML client uses the local store again."""
    _configure()
    try:
        stopped = stop_dashboard()
    except DashboardError as exc:
        fail(exc)
    typer.echo("ZenML dashboard stopped" if stopped else "no local ZenML dashboard was running")


@app.command()
def status() -> None:
    """Say whether the dashboard runs and where ZenML keeps its state.

    Exits with status 1 when the dashboard is not running.
    """

    _configure()
    state = dashboard_status()
    typer.echo(f"ZenML state: {os.environ['ZENML_CONFIG_PATH']}")
    if state.running:
        typer.echo(f"ZenML dashboard: {state.runs_url}")
        typer.echo("client: " + ("through the dashboard server" if state.client_connected else "local store"))
    else:
        typer.echo("ZenML dashboard: not running (start it with: python -m tools.zenml_server up)")
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
