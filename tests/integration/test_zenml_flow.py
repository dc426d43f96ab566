"""The main job's stages as one connected picture in ZenML, run for real on a tiny fixture.

Dataset generation, training and evaluation run through ``tools.run end-to-end`` in a subprocess;
then ZenML is asked what its dashboard shows: the training run's graph starts from the dataset
artifacts, one Model version lists the datasets, the model and the evaluation, previews are a
table / an image / the report's page, and all of it still opens after the ZenML folder moved.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_dataset_generation import SMALL, canned_server, write_cleaned_documents
from test_eval_pipeline import MODEL_CACHE

from llm_engineering.domain.ports import close_stores

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, sys
from llm_engineering.infrastructure.zenml_env import configure_zenml
configure_zenml(repo_root=sys.argv[1])
from zenml.artifacts.utils import load_artifact_visualization
from zenml.client import Client

client = Client()

def run_of(name):
    return client.get_pipeline(name).last_run

def inputs(run):
    return {step: sorted(a.name for versions in s.inputs.values() for a in versions) for step, s in run.steps.items()}

def preview(artifact):
    shown = load_artifact_visualization(artifact, 0)
    return {"type": str(shown.type), "head": shown.value[:300] if isinstance(shown.value, str) else "bytes"}

training = run_of("training")
version = client.get_model_version("llm_twin")  # the newest version
linked = sorted({a.artifact.name for a in client.list_artifact_versions(model_version_id=version.id, size=100).items})
runs = {run_of(name).id for name in ("generate_instruct_datasets", "generate_preference_datasets", "training",
                                     "evaluating")}
report = run_of("evaluating").steps["write_evaluation_report"].outputs["evaluation_report_html"][0]
curves = training.steps["register_model"].outputs["training_loss_curves"][0]
dataset = client.get_artifact_version("instruct_datasets")
overview = run_of("evaluating").steps["twin_overview"].outputs["twin_overview"][0]
print(json.dumps({
    "training_inputs": inputs(training),
    "run_names": [run_of(n).name for n in ("generate_instruct_datasets", "training", "evaluating")],
    "model_version": version.name,
    "model_versions": len(client.list_model_versions(model="llm_twin").items),
    "runs_in_version": sorted(str(r) for r in version.pipeline_run_ids.values()) == sorted(str(r) for r in runs),
    "linked": linked,
    "model_type": str(client.get_artifact_version("model_version").type),
    "dataset_preview": preview(dataset),
    "dataset_rows": {k: len(v) for k, v in dataset.load().items()},
    "report_preview": preview(report),
    "curves_preview": preview(curves),
    "overview": str(overview.load()),
}))
"""


def _env(tmp_path: Path, zenml: Path, llm_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QDRANT_URL", "DATABASE_HOST", "LOG_LEVEL")}
    env.update(
        DATA_DIR=str(tmp_path / "data"),
        ZENML_CONFIG_PATH=str(zenml),
        ZENML_ANALYTICS_OPT_IN="false",
        MODEL_CACHE_DIR=str(MODEL_CACHE),
        TORCH_NUM_THREADS="1",
        TRAINING_MAX_STEPS="2",  # two points: a loss curve to plot
        LLM_BASE_URL=llm_url,
    )
    return env


def _stage_configs(tmp_path: Path) -> Path:
    """A main job of the four twin stages with the project's configs, shrunk to a few seconds each."""
    stages = []

    def stage(name: str, update) -> None:
        data = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text(encoding="utf-8"))
        update(data["parameters"])
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        stages.append({"pipeline": name, "config": str(path)})

    stage("generate_instruct_datasets", lambda p: p["config"].update(SMALL, instruction_writer="template"))
    stage("generate_preference_datasets", lambda p: p["config"].update(SMALL, instruction_writer="auto"))

    def training(p):
        for name in ("sft", "dpo"):
            p["training"][name].update(max_length=96, max_eval_samples=1, lora={"r": 4, "alpha": 8})
        p["training"]["sft"]["eval_before_training"] = False

    stage("training", training)
    stage(
        "evaluating",
        lambda p: p["evaluation"].update(
            sample_limit=1,
            generation={"max_new_tokens": 8, "batch_size": 1},
            metrics={"semantic": False, "style": False, "judge": False, "pairwise": False},
            gate={"on_failure": "warn"},
            review={"items": 0},
            run_name="flow-test",
        ),
    )
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump({"stages": stages}), encoding="utf-8")
    return job


def test_the_twin_stages_form_one_model_version_that_survives_a_moved_folder(tmp_path, data_dir):
    write_cleaned_documents()
    close_stores()  # local mode: one process per folder, the job's now
    job = _stage_configs(tmp_path)
    with canned_server() as (_, url):
        env = _env(tmp_path, tmp_path / "zenml", url)
        done = subprocess.run(
            [sys.executable, "-m", "tools.run", "end-to-end", "--config", str(job)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]

    # The whole ZenML folder moves (the old place is gone); the new place is all there is.
    moved = tmp_path / "elsewhere" / "zenml"
    moved.parent.mkdir()
    shutil.move(tmp_path / "zenml", moved)
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT)],
        cwd=ROOT,
        env=_env(tmp_path, moved, url),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr[-4000:]
    seen = json.loads(probe.stdout.strip().splitlines()[-1])

    # The training run's graph starts from the generated datasets, not from a bare train_sft.
    assert "instruct_datasets" in seen["training_inputs"]["train_sft"]
    assert "preference_datasets" in seen["training_inputs"]["train_dpo"]
    # One Model version holds the four runs: datasets -> model -> evaluation.
    assert seen["model_versions"] == 1 and seen["runs_in_version"]
    for name in ("instruct_datasets", "preference_datasets", "model_version", "evaluation_report_html"):
        assert name in seen["linked"], seen["linked"]
    assert seen["model_type"] == "ModelArtifact"  # listed under the Model page's models
    # Short readable run names carrying the Model version.
    assert seen["run_names"][1].startswith(f"training v{seen['model_version']} ")
    assert all(len(name) <= 32 for name in seen["run_names"]), seen["run_names"]
    # Previews: a table of the dataset, the report's own page, the loss curves as an image.
    assert seen["dataset_preview"]["type"].lower().endswith("markdown")
    assert f"| train | {seen['dataset_rows']['train']} |" in seen["dataset_preview"]["head"]
    assert seen["report_preview"]["type"].lower().endswith("html") and "<html" in seen["report_preview"]["head"].lower()
    assert seen["curves_preview"]["type"].lower().endswith("image")
    # The version's page (the open-source dashboard has no Models page): runs and artifacts in flow order.
    page = seen["overview"]
    order = [page.index(f"<b>{name}</b>") for name in ("instruct_datasets", "model_version", "evaluation_report_html")]
    assert order == sorted(order), page[:2000]
    assert page.index("<b>instruct v") < page.index("<b>training v") < page.index("<b>evaluation v")
    # The evaluation report is also in DATA_DIR/reports/<run>/ as the README says.
    assert (data_dir / "reports" / "flow-test" / "report.html").is_file()
