"""The digital_data_etl ZenML pipeline run for real, in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "crawl"))

from crawl_helpers import FIXTURES, FixtureServer, page  # noqa: E402

from llm_engineering.domain.documents import ArticleDocument, PostDocument, RepositoryDocument, UserDocument  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

READ_OUTPUT = """
import json
from zenml.client import Client
run = Client().get_pipeline("digital_data_etl").last_run
step = run.steps["crawl_links"]
artifact = step.outputs["crawled_links"][0]
outcomes = [o.model_dump(mode="json") for o in artifact.load()]
print(json.dumps({"outcomes": outcomes, "metadata": artifact.run_metadata.get("crawl")}))
"""


def _env(tmp_path: Path, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "ZENML_CONFIG_PATH": str(tmp_path / "zenml"),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "CRAWL_ALLOWED_NETWORKS": "127.0.0.1",
        "CRAWL_BACKOFF_S": "0.01",
        "CRAWL_TIMEOUT_S": "5",
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_pipeline_crawls_links_and_records_each_outcome(tmp_path, data_dir):
    with FixtureServer({"/posts/idempotent-pipelines": page("blog_article.html")}) as server:
        config = tmp_path / "etl.yaml"
        links = [
            server.url("/posts/idempotent-pipelines"),
            str(FIXTURES / "local_drafts"),
            server.url("/gone"),
            "ftp://example.org/essay.txt",
        ]
        config.write_text(
            yaml.safe_dump(
                {"parameters": {"user_full_name": "김 민지", "links": links, "allow_local_files": True}},
                allow_unicode=True,
            ),
            encoding="utf-8",
        )
        env = _env(tmp_path, data_dir)
        result = _run(["-m", "tools.run", "digital_data_etl", "--config", str(config)], env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 ok, 0 skipped, 2 failed; 5 documents written" in result.stdout
    assert "HTTP 404" in result.stdout and "unsupported scheme ftp:" in result.stdout

    user = UserDocument.find_by_name("김 민지")
    assert user is not None
    assert ArticleDocument.count(author_id=user.id) == 5

    read = _run(["-c", READ_OUTPUT], env)
    assert read.returncode == 0, read.stderr[-3000:]
    output = json.loads(read.stdout.strip().splitlines()[-1])
    assert [o["status"] for o in output["outcomes"]] == ["ok", "ok", "failed", "failed"]
    assert output["metadata"]["documents_written"] == 5
    assert output["metadata"]["failures"][links[2]].startswith("HTTP 404")


@pytest.mark.slow
def test_a_config_without_an_author_stops_with_exit_code_2(tmp_path, data_dir):
    config = tmp_path / "etl.yaml"
    config.write_text("parameters:\n  links: [https://example.org/a]\n", encoding="utf-8")
    result = _run(["-m", "tools.run", "digital_data_etl", "--config", str(config)], _env(tmp_path, data_dir))
    assert result.returncode == 2
    assert "user_full_name" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_default_config_crawls_the_sample_author(tmp_path, data_dir):
    result = _run(["-m", "tools.run", "digital_data_etl"], _env(tmp_path, data_dir))  # from the repository root
    assert result.returncode == 0, result.stderr[-3000:]
    assert "3 ok, 0 skipped, 0 failed; 22 documents written" in result.stdout
    user = UserDocument.find_by_name("Jiwon Ashby")
    assert ArticleDocument.count(author_id=user.id) == 19
    assert PostDocument.count(author_id=user.id) == 2
    [repo] = RepositoryDocument.bulk_find(author_id=user.id)
    assert repo.name == "sogeum" and repo.platform == "local"


@pytest.mark.slow
def test_a_run_where_every_link_fails_exits_non_zero_and_keeps_no_empty_author(tmp_path, data_dir):
    env = _env(tmp_path, data_dir)
    config = tmp_path / "etl.yaml"
    config.write_text(yaml.safe_dump({"parameters": {"user_ful_name": "Dana Kim", "links": ["x"]}}))
    typo = _run(["-m", "tools.run", "digital_data_etl", "--config", str(config)], env)
    assert typo.returncode == 2
    assert "unknown parameter user_ful_name for digital_data_etl; accepted: user_full_name, links" in typo.stderr

    with FixtureServer({}) as server:
        links = [server.url("/gone"), "ftp://example.org/essay.txt", server.url("/also-gone")]
        config.write_text(yaml.safe_dump({"parameters": {"user_full_name": "Dana Kim", "links": links}}))
        result = _run(["-m", "tools.run", "digital_data_etl", "--config", str(config)], env)
    assert result.returncode != 0
    assert "0 ok, 0 skipped, 3 failed" in result.stdout
    assert "all 3 links failed" in result.stdout + result.stderr
    assert UserDocument.find_by_name("Dana Kim") is None and UserDocument.count() == 0
