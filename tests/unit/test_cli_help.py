"""Every command line under tools/ prints plain-text help: no markup left over, flags shown without a
value, and every option and optional field named."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ["run", "rag", "ml_service", "data_warehouse", "zenml_server"]
MARKUP = ("``", "`", "[bold", "[/", "<bool>", "\\b")


def _helps() -> list[tuple[str, click.Command, list[str]]]:
    """(title, click command, argv) for every tool and each of its subcommands."""
    found = []
    for name in TOOLS:
        command = typer.main.get_command(importlib.import_module(f"tools.{name}").app)
        found.append((name, command, []))
        for sub_name, sub in getattr(command, "commands", {}).items():
            found.append((f"{name} {sub_name}", sub, [sub_name]))
    return found


HELPS = _helps()


RENDER = """
import importlib, json, sys
from typer.testing import CliRunner
helps = {}
for title, argv in json.loads(sys.argv[1]):
    app = importlib.import_module("tools." + title.split()[0]).app
    result = CliRunner().invoke(app, [*argv, "--help"], env={"COLUMNS": "80"}, prog_name="tools." + title)
    helps[title] = [result.exit_code, result.output]
print(json.dumps(helps))
"""


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    """Every help text, rendered in a process of its own: a command group applies LOG_LEVEL (loguru's
    sink, library switches) even for --help, which must not leak into the test process."""
    import json

    wanted = json.dumps([(title, argv) for title, _, argv in HELPS])
    result = subprocess.run(
        [sys.executable, "-c", RENDER, wanted], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    rendered = json.loads(result.stdout)
    assert all(code == 0 for code, _ in rendered.values()), rendered
    return {title: text for title, (_, text) in rendered.items()}


@pytest.mark.parametrize("title, command, argv", HELPS, ids=[h[0] for h in HELPS])
def test_help_is_plain_text_with_every_option(helps, title, command, argv):
    text = helps[title]
    for artefact in MARKUP:
        assert artefact not in text, f"{artefact!r} in the help of {title}:\n{text}"
    if "Commands:" in text:  # each command's summary whole, not cut with "..."
        assert not text.split("Commands:", 1)[1].rstrip().endswith("...") and "...\n" not in text.split("Commands:")[1]
    for param in command.params:
        if not isinstance(param, click.Option) or param.hidden:
            continue
        for flag in [*param.opts, *param.secondary_opts]:
            assert re.search(rf"(^|[\s,/]){re.escape(flag)}(\s|,|$)", text, re.M), f"{flag} missing:\n{text}"
        if param.is_flag:  # a switch takes no value: nothing between the flag and its help text
            line = next(line for line in text.splitlines() if param.opts[0] in line)
            after = line.split(param.opts[0], 1)[1]
            assert not re.match(r" ?(<|[A-Z]{2,})", after), f"{param.opts[0]} shown with a value: {line!r}"
        else:  # an option that takes a value names it
            line = next(line for line in text.splitlines() if param.opts[-1] in line)
            assert re.search(rf"{re.escape(param.opts[-1])} [A-Z]", line), f"no value named: {line!r}"


def test_the_question_file_help_names_its_optional_fields(helps):
    text = " ".join(helps["rag evaluate"].split())
    assert "question, link, and optionally evidence and author" in text


def test_the_runner_help_lists_every_pipeline_and_the_main_job(helps):
    text = " ".join(helps["run"].split())
    assert "--no-cache Re-run every step" in text
    from tools.run import available_pipelines

    for name in ["end-to-end", *available_pipelines()]:
        assert name in text


def test_help_in_a_terminal_is_the_same_plain_text():
    """What a user's shell shows (a real process, with Rich installed and a wide terminal)."""
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm-256color", "FORCE_COLOR": "1"}
    for argv in (["tools.run"], ["tools.rag", "evaluate"], ["tools.ml_service"]):
        result = subprocess.run([sys.executable, "-m", *argv, "--help"], cwd=ROOT, env=env, capture_output=True)
        text = result.stdout.decode()
        assert result.returncode == 0 and text.startswith("Usage: python -m ")
        assert not any(artefact in text for artefact in MARKUP) and "╭" not in text and "\x1b[" not in text


def test_bench_help_names_every_benchmark_without_markup():
    result = subprocess.run([sys.executable, "-m", "tools.bench", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0
    assert "``" not in result.stdout and "usage: python -m tools.bench" in result.stdout
    for module in (ROOT / "tools" / "bench").glob("[!_]*.py"):
        assert module.stem in result.stdout
