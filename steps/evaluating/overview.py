"""Step: one page for the twin's ZenML Model version — its runs and what each made, in flow order.

The open-source dashboard's Models page is not available locally, so the version's contents are
shown as this artifact's preview (``twin_overview``) on the evaluation run.
"""

from html import escape
from typing import Annotated

from zenml import get_step_context, step
from zenml.types import HTMLString

FLOW = ("generate_instruct_datasets", "generate_preference_datasets", "training", "evaluating")
SHOWN_METADATA = 4


@step(enable_cache=False)
def twin_overview() -> Annotated[HTMLString, "twin_overview"]:
    from zenml.client import Client

    model = get_step_context().model
    if model is None:
        return HTMLString("<p>This run is tied to no ZenML Model (its config has no <code>model:</code>).</p>")
    client = Client()
    version = client.get_model_version(model.name, model.version)
    artifacts = client.list_artifact_versions(model_version_id=version.id, size=200, hydrate=True).items
    runs = list(client.list_pipeline_runs(linked_to_model_version_id=version.id, size=200, hydrate=True).items)
    runs.sort(key=lambda r: (FLOW.index(r.pipeline.name) if r.pipeline and r.pipeline.name in FLOW else 99, r.created))
    rows = []
    for run in runs:
        made = [a for a in artifacts if a.producer_pipeline_run_id == run.id]
        items = "".join(f"<li>{_artifact(a)}</li>" for a in sorted(made, key=lambda a: a.name))
        rows.append(
            f"<tr><td><b>{escape(run.name)}</b><br><small>{escape(str(run.status))}</small></td>"
            f"<td><ul>{items or '<li>none</li>'}</ul></td></tr>"
        )
    return HTMLString(
        f"<h2>ZenML model {escape(model.name)}, version {escape(version.name)}</h2>"
        "<p>The runs tied to this version, in the order of the flow (datasets, model, evaluation), "
        "and the artifacts each made.</p>"
        "<table border='1' cellpadding='6' style='border-collapse:collapse'>"
        "<tr><th>run</th><th>artifacts</th></tr>" + "".join(rows) + "</table>"
    )


def _artifact(artifact) -> str:
    numbers = [
        f"{escape(key)}={escape(str(value))}"
        for key, value in (artifact.run_metadata or {}).items()
        if isinstance(value, int | float | str) and not str(value).startswith("file://")
    ][:SHOWN_METADATA]
    kind = str(artifact.type).removesuffix("Artifact").lower()
    return f"<b>{escape(artifact.name)}</b> v{escape(str(artifact.version))} ({kind}) " + ", ".join(numbers)
