"""export_artifact_to_json: the newest version of named ZenML artifacts written as JSON files.

A tiny real pipeline (a temporary module) produces artifacts in a private ZenML store; the export
runs through ``python -m tools.run`` like a user would run it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from llm_engineering.application.artifact_export import (
    MASK,
    ArtifactExportError,
    file_name_for,
    to_jsonable,
    validate_export_parameters,
    write_json_files,
)

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-live-do-not-export-1234"

TINY_PIPELINE = textwrap.dedent(
    f'''
    import sys
    import uuid
    from typing import Annotated

    from pydantic import BaseModel, SecretStr
    from zenml import pipeline, step

    from llm_engineering.domain.documents import ArticleDocument

    AUTHOR = uuid.uuid5(uuid.NAMESPACE_URL, "tiny-author")


    @step
    def make_articles(version: int) -> Annotated[list[ArticleDocument], "tiny_articles"]:
        return [
            ArticleDocument(content={{"Title": "한국어 글", "Content": f"판 {{version}}: 안녕하세요."}},
                            platform="blog", author_id=AUTHOR, author_full_name="김민수",
                            link="https://blog.example.org/ko"),
            ArticleDocument(content={{"Title": "Hello", "Content": f"version {{version}}"}},
                            platform="blog", author_id=AUTHOR, author_full_name="김민수",
                            link="https://blog.example.org/en"),
        ]


    @step
    def summarise(articles: list[ArticleDocument]) -> Annotated[dict, "tiny_summary"]:
        return {{"titles": [a.content["Title"] for a in articles], "api_key": SecretStr("{SECRET}")}}


    class LocalNote(BaseModel):  # defined outside the project: not importable by the export
        text: str


    @step
    def local_note() -> Annotated[LocalNote, "tiny_local_note"]:
        return LocalNote(text="메모")


    @pipeline(enable_cache=False)
    def tiny_export_source(version: int = 1) -> None:
        summarise(make_articles(version))
        local_note()


    if __name__ == "__main__":
        from llm_engineering.infrastructure.zenml_env import configure_zenml

        configure_zenml(repo_root=sys.argv[1])
        for version in (1, 2):  # two versions: the export must take the newest
            tiny_export_source(version=version)
    '''
)


@pytest.fixture(scope="module")
def zenml_home(tmp_path_factory):
    """A private ZenML store holding two runs of the tiny pipeline; returns the env to use it."""
    home = tmp_path_factory.mktemp("zenml_home")
    env = {
        **os.environ,
        "DATA_DIR": str(home / "data"),
        "ZENML_CONFIG_PATH": str(home / "zenml"),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "PYTHONPATH": str(ROOT),
    }
    module_dir = home / "source"
    module_dir.mkdir()
    (module_dir / "tiny_export_source.py").write_text(TINY_PIPELINE, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "tiny_export_source.py", str(module_dir)],
        cwd=module_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return env


def run_export(env, config: Path):
    return subprocess.run(
        [sys.executable, "-m", "tools.run", "export_artifact_to_json", "--config", str(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def write_config(path: Path, names, output_dir: Path) -> Path:
    lines = ["parameters:", "  artifact_names:"] + [f"    - {name}" for name in names]
    path.write_text("\n".join([*lines, f"  output_dir: {output_dir}", ""]), encoding="utf-8")
    return path


@pytest.mark.slow
def test_export_writes_the_newest_version_of_each_artifact_as_json(zenml_home, tmp_path):
    out = tmp_path / "export"
    result = run_export(zenml_home, write_config(tmp_path / "export.yaml", ["tiny_articles", "tiny_summary"], out))
    assert result.returncode == 0, result.stderr[-3000:]

    assert sorted(p.name for p in out.iterdir()) == ["tiny_articles.json", "tiny_summary.json"]
    articles = json.loads((out / "tiny_articles.json").read_text(encoding="utf-8"))
    assert [a["content"]["Title"] for a in articles] == ["한국어 글", "Hello"]
    assert articles[0]["content"]["Content"] == "판 2: 안녕하세요."  # version 2, not 1
    assert articles[0]["author_full_name"] == "김민수"
    assert articles[0]["link"] == "https://blog.example.org/ko"
    uuid.UUID(articles[0]["id"])  # pydantic JSON mode: UUIDs and datetimes as strings
    dt.datetime.fromisoformat(articles[0]["crawled_at"])

    summary_text = (out / "tiny_summary.json").read_text(encoding="utf-8")
    assert "한국어 글" in summary_text  # Hangul kept as is, not \\u escapes
    summary = json.loads(summary_text)
    assert summary["titles"] == ["한국어 글", "Hello"]
    assert summary["api_key"] == MASK
    assert SECRET not in summary_text


@pytest.mark.slow
def test_unknown_artifact_name_stops_with_the_available_names_and_writes_nothing(zenml_home, tmp_path):
    out = tmp_path / "export"
    config = write_config(tmp_path / "export.yaml", ["tiny_articles", "no_such_artifact"], out)
    result = run_export(zenml_home, config)
    assert result.returncode == 2
    assert "no artifact named 'no_such_artifact'" in result.stderr
    assert "tiny_articles" in result.stderr and "tiny_summary" in result.stderr  # what exists instead
    assert "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.slow
def test_an_artifact_that_cannot_be_loaded_stops_the_export_before_any_file_is_written(zenml_home, tmp_path):
    out = tmp_path / "export"
    config = write_config(tmp_path / "export.yaml", ["tiny_articles", "tiny_local_note"], out)
    result = run_export(zenml_home, config)
    assert result.returncode == 2
    assert "error: artifact 'tiny_local_note' version 2 cannot be loaded here" in result.stderr
    assert "No module named 'tiny_export_source'" in result.stderr
    assert not out.exists()


def test_an_empty_name_list_is_refused_before_anything_runs(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("parameters:\n  artifact_names: []\n", encoding="utf-8")
    env = {**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "zenml"), "ZENML_ANALYTICS_OPT_IN": "false"}
    result = run_export(env, config)
    assert result.returncode == 2
    assert "artifact_names must be a non-empty list" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "names, output_dir, message",
    [
        ("cleaned_documents", "output", "artifact_names must be a non-empty list"),
        (["cleaned_documents", " "], "output", "artifact_names must be a non-empty list"),
        (None, "output", "artifact_names must be a non-empty list"),
        (["cleaned_documents"], "", "output_dir must be a folder path"),
        (["cleaned_documents"], 3, "output_dir must be a folder path"),
    ],
)
def test_bad_parameters_are_named(names, output_dir, message):
    with pytest.raises(ArtifactExportError, match=message):
        validate_export_parameters(names, output_dir)


class _Credentials(BaseModel):
    user: str
    token: SecretStr


def test_json_conversion_masks_secrets_and_keeps_korean():
    value = {
        "model": _Credentials(user="민지", token=SecretStr(SECRET)),
        "bare": [SecretStr(SECRET)],
        "when": dt.date(2026, 1, 2),
        "tags": {"b", "a"},
        "score": float("nan"),
    }
    converted = to_jsonable(value)
    assert converted == {
        "model": {"user": "민지", "token": MASK},
        "bare": [MASK],
        "when": "2026-01-02",
        "tags": ["a", "b"],
        "score": None,
    }
    assert SECRET not in json.dumps(converted, ensure_ascii=False)


def test_a_value_json_cannot_hold_is_refused_with_where_it_is():
    with pytest.raises(ArtifactExportError, match=r"model_outputs\[1\]: a builtins.object cannot be written"):
        to_jsonable([1, object()], where="model_outputs")


def test_file_names_stay_inside_the_output_folder_and_keep_hangul(tmp_path):
    write_json_files({"첫 번째/결과": {"ok": True}}, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["첫 번째_결과.json"]
    assert file_name_for("../etc") == "_etc.json"
