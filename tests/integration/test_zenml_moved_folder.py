"""A project folder moved after its runs: the next project command repoints ZenML's stored paths,
so an artifact and its dashboard preview still load, and nothing is read from the old place."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RUN = textwrap.dedent(
    """
    import sys
    from typing import Annotated

    from llm_engineering.infrastructure.zenml_env import configure_zenml

    configure_zenml(repo_root=sys.argv[1])
    from zenml import pipeline, step


    @step
    def note() -> Annotated[str, "note"]:
        return "글쓴이의 메모"


    @pipeline
    def moved_folder_pipeline() -> None:
        note()


    moved_folder_pipeline()
    """
)

OPEN = textwrap.dedent(
    """
    import sys

    from llm_engineering.infrastructure.zenml_env import configure_zenml

    configure_zenml(repo_root=sys.argv[1])
    from zenml.artifacts.utils import load_artifact_visualization
    from zenml.client import Client

    artifact = Client().get_artifact_version("note")
    print(artifact.uri)
    print(artifact.load())
    print(load_artifact_visualization(artifact, 0).value)
    """
)


def _run(script: str, project: Path) -> subprocess.CompletedProcess:
    # A file, not ``-c``: ZenML reads a step's source code.
    (project / "script.py").write_text(script, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZENML_")}
    env.update(
        DATA_DIR=str(project / ".llm_twin"),
        ZENML_ANALYTICS_OPT_IN="false",
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        [sys.executable, "script.py", str(project)], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )


def test_artifacts_still_open_after_the_project_folder_moved(tmp_path):
    before, after = tmp_path / "before" / "project", tmp_path / "after" / "project"
    before.mkdir(parents=True)
    made = _run(RUN, before)
    assert made.returncode == 0, made.stderr[-3000:]
    assert "active stack" not in made.stderr + made.stdout  # a fresh store's first run: no notice to act on
    after.parent.mkdir()
    shutil.move(before, after)  # the old place is gone

    opened = _run(OPEN, after)
    assert opened.returncode == 0, opened.stderr[-3000:]
    uri, value, preview = opened.stdout.strip().splitlines()[-3:]
    assert uri.startswith(str(after / ".llm_twin" / "zenml"))
    assert value == "글쓴이의 메모" and json.loads(preview) == "글쓴이의 메모"  # the preview is the JSON file
    assert "ZenML folder moved" in opened.stderr
    config = (after / ".llm_twin" / "zenml" / "config.yaml").read_text(encoding="utf-8")
    assert str(before) not in config

    again = _run(OPEN, after)  # nothing left to repoint
    assert again.returncode == 0 and "ZenML folder moved" not in again.stderr
