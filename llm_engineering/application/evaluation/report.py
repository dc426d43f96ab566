"""The run's report: one self-contained HTML page (tables + matplotlib plots inlined as PNG) and
the same numbers as JSON, written beside the evaluated model version in the registry, or under
``DATA_DIR/reports/<run>/`` when the candidate is not a registry version.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from pydantic import BaseModel

from llm_engineering.application.evaluation.config import METRICS
from llm_engineering.application.evaluation.judge import RUBRIC
from llm_engineering.application.evaluation.runner import PER_ITEM_METRICS, EvaluationResult, registry_version_dir
from llm_engineering.settings import get_settings

HEADLINE = ["loss", "perplexity", *PER_ITEM_METRICS[1:]]  # the per-item metrics, perplexity beside loss
DISTRIBUTIONS = ["loss", "rouge_l", "chrf", "semantic_similarity", "style_similarity", "judge_accuracy"]


class ReportPaths(BaseModel):
    folder: str
    html: str
    json_path: str
    review_csv: str | None = None
    review_html: str | None = None


def report_folder(result: EvaluationResult) -> Path:
    """Beside the candidate's registry version (``<version>/evaluations/<run>``) when there is one."""
    configured = result.config.get("output_dir")
    if configured:
        return Path(configured) / result.run_name
    candidate = result.config.get("gate", {}).get("candidate")
    ordered = sorted(result.models, key=lambda m: m.label != candidate)
    for model in ordered:
        version_dir = registry_version_dir(model.model_dir)
        if version_dir is not None:
            return version_dir / "evaluations" / result.run_name
    return get_settings().DATA_DIR / "reports" / result.run_name


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(*args, **kwargs):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def plot_metrics(result: EvaluationResult) -> str | None:
    metrics = [
        m
        for m in HEADLINE
        if m != "perplexity" and any(m in s.metrics and s.metrics[m].value is not None for s in result.models)
    ]
    if not metrics:
        return None
    cols = min(4, len(metrics))
    rows = (len(metrics) + cols - 1) // cols
    fig, axes = _figure(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    labels = [m.label for m in result.models]
    for ax, metric in zip(axes.flat, metrics, strict=False):
        values, low, high = [], [], []
        for model in result.models:
            est = model.metrics.get(metric)
            v = est.value if est and est.value is not None else float("nan")
            values.append(v)
            low.append(v - est.low if est and est.low is not None else 0.0)
            high.append(est.high - v if est and est.high is not None else 0.0)
        ax.bar(
            labels,
            values,
            yerr=[low, high],
            capsize=4,
            color=["#7f9cbf", "#e0915a", "#8dbf7f", "#b58fc4"][: len(labels)],
        )
        ax.set_title(f"{metric} ({'higher' if METRICS.get(metric, True) else 'lower'} is better)", fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.suptitle("Metric per model with bootstrap confidence interval", fontsize=10, y=1.02)
    return _png(fig)


def plot_distributions(result: EvaluationResult) -> str | None:
    metrics = [m for m in DISTRIBUTIONS if any(result.item_values(s.label, m) for s in result.models)]
    if not metrics:
        return None
    fig, axes = _figure(1, len(metrics), figsize=(3.2 * len(metrics), 2.6), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=True):
        for model in result.models:
            values = result.item_values(model.label, metric)
            if values:
                ax.hist(values, bins=min(20, max(3, len(values))), alpha=0.55, label=model.label)
        ax.set_title(metric, fontsize=9)
        ax.tick_params(labelsize=8)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("Per-item score distributions", fontsize=10, y=1.04)
    return _png(fig)


def plot_training(result: EvaluationResult) -> str | None:
    if not result.training_curves:
        return None
    fig, ax = _figure(figsize=(6.5, 3.2))
    for name, points in result.training_curves.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], label=name, linewidth=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=7)
    ax.set_title("Training loss (from the registry's metrics.json)", fontsize=10)
    return _png(fig)


def worst_items(result: EvaluationResult, limit: int) -> list[dict]:
    """The candidate's weakest items: lowest semantic similarity (or highest loss)."""
    if not result.models or limit <= 0:
        return []
    candidate = result.config.get("gate", {}).get("candidate")
    label = candidate if candidate in [m.label for m in result.models] else result.models[-1].label
    mine = [i for i in result.items if i.model == label]
    if any(i.metrics.get("semantic_similarity") is not None for i in mine):
        key, reverse = "semantic_similarity", False
    else:
        key, reverse = "loss", True
    ranked = sorted((i for i in mine if i.metrics.get(key) is not None), key=lambda i: i.metrics[key], reverse=reverse)
    by_id = {s.id: s for s in result.samples}
    return [
        {"model": label, "by": key, "sample": by_id[i.sample_id], "answer": i.answer or "", "metrics": i.metrics}
        for i in ranked[:limit]
    ]


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation {{ r.run_name }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f2f2f2} .best{font-weight:bold} 
.fail{color:#b00020;font-weight:bold} .pass{color:#1b5e20;font-weight:bold}
.note{background:#fff8e1;padding:.5em 1em;border-left:4px solid #f9a825} pre{white-space:pre-wrap}
td.text{max-width:380px;white-space:pre-wrap}
</style></head><body>
<h1>Evaluation report: {{ r.run_name }}</h1>
<p>{{ r.created_at }} · dataset <code>{{ r.dataset }}</code> · {{ r.samples|length }} items ·
confidence {{ (r.config.confidence * 100)|round|int }}% (bootstrap, {{ r.config.bootstrap_resamples }} resamples)</p>

<h2>Models</h2>
<table id="models"><tr><th>label</th>
<th>version</th>
<th>model id</th>
<th>answer tokens scored</th>
<th>generation s</th>
<th>cached items</th></tr>
{% for m in r.models %}<tr><td>{{ m.label }}</td>
<td>{{ m.version }}</td>
<td>{{ m.model_id or "(base)" }}</td>
<td>{{ m.loss_tokens }}</td>
<td>{{ "%.1f"|format(m.generation_seconds) }}</td>
<td>{{ m.cached_items }}</td></tr>{% endfor %}
</table>

<h2>Headline</h2>
<table id="headline"><tr><th>metric</th>
<th>better</th>{% for m in r.models %}<th>{{ m.label }}</th>{% endfor %}
</tr>
{% for row in headline %}<tr><td>{{ row.metric }}</td>
<td>{{ row.direction }}</td>
{% for cell in row.cells %}<td class="{{ 'best' if cell.best else '' }}">{{ cell.text }}</td>{% endfor %}
</tr>{% endfor %}
{% if r.pairwise %}<tr><td>pairwise win rate ({{ r.pairwise.candidate }} vs {{ r.pairwise.baseline }})</td>
<td>higher</td>
<td colspan="{{ r.models|length }}">{{ r.pairwise.win_rate.as_text() }} ·
 position consistency {{ "n/a" if r.pairwise.consistency is none else "%.2f"|format(r.pairwise.consistency) }} ·
 unreadable verdicts {{ r.pairwise.malformed }}</td></tr>{% endif %}
</table>

{% if gate %}<h2>Regression gate:
<span class="{{ 'fail' if gate.status == 'failed' else 'pass' }}">{{ gate.status }}</span>
</h2>
<p>{{ gate.message }}</p>
{% if gate.rules %}<table id="gate"><tr><th>metric</th>
<th>{{ gate.baseline }}</th>
<th>{{ gate.candidate }}</th>
<th>regression</th>
<th>allowed</th>
<th>result</th></tr>
{% for o in gate.rules %}<tr><td>{{ o.metric }}</td>
<td>{{ fmt(o.baseline) }}</td>
<td>{{ fmt(o.candidate) }}</td>
<td>{{ fmt(o.regression) }}</td>
<td>{{ fmt(o.max_regression) }}</td>
<td class="{{ 'pass' if o.passed else 'fail' }}">{{ o.reason }}</td></tr>{% endfor %}
</table>{% endif %}{% endif %}

{% if images.metrics %}<h2>Metrics with confidence intervals</h2>
<img alt="metrics per model" src="data:image/png;base64,{{ images.metrics }}">{% endif %}
{% if images.distributions %}<h2>Score distributions</h2>
<img alt="score distributions" src="data:image/png;base64,{{ images.distributions }}">{% endif %}
<h2>Training loss</h2>
{% if images.training %}
<img alt="training loss curves" src="data:image/png;base64,{{ images.training }}">{% else %}
<p>No training curves: no evaluated model is a registry version
 with loss curves in its metrics.json.</p>{% endif %}

<h2>Style</h2>
<p>Author reference: {{ r.author_style.source or "none" }}
{% if r.author_style.texts %} ({{ r.author_style.texts }} texts){% endif %}.</p>
<table id="stylometry"><tr><th>who</th>
<th>mean sentence words</th>
<th>type-token ratio</th>
<th>punctuation / 100 chars</th>
<th>top punctuation</th></tr>
{% if author %}<tr><td>author</td>
<td>{{ "%.1f"|format(author.mean_sentence_words) }}</td>
<td>{{ "%.3f"|format(author.type_token_ratio) }}</td>
<td>{{ "%.2f"|format(author.punctuation_per_100_chars) }}</td>
<td>{{ top(author.punctuation_profile) }}</td></tr>{% endif %}
{% for m in r.models if m.stylometry %}<tr><td>{{ m.label }}</td>
<td>{{ "%.1f"|format(m.stylometry.mean_sentence_words) }}</td>
<td>{{ "%.3f"|format(m.stylometry.type_token_ratio) }}</td>
<td>{{ "%.2f"|format(m.stylometry.punctuation_per_100_chars) }}</td>
<td>{{ top(m.stylometry.punctuation_profile) }}</td></tr>{% endfor %}
</table>

{% if r.judge %}<h2>LLM judge</h2>
<p>Judge: <code>{{ r.judge.name }}</code>, temperature 0, {{ r.judge.judged_items }} items.
{% for m in r.models %}{{ m.label }}: {{ m.judge_malformed }}
 unreadable replies (left out of the averages). {% endfor %}</p>
{% if r.judge.weak %}<p class="note">{{ r.judge.note }}</p>{% endif %}
<details><summary>Rubric (1–3)</summary><pre>{{ rubric }}</pre></details>{% endif %}

{% if r.retrieval %}<h2>Retrieval</h2><table id="retrieval"><tr><th>metric</th>
<th>value</th></tr>
{% for k, v in r.retrieval.items() %}<tr><td>{{ k }}</td>
<td>{{ fmt(v) }}</td></tr>{% endfor %}</table>{% endif %}

<h2>Worst items</h2>
<table id="worst"><tr><th>model</th>
<th>question</th>
<th>reference</th>
<th>answer</th>
<th>scores</th></tr>
{% for w in worst %}<tr><td>{{ w.model }}</td>
<td class="text">{{ w.sample.instruction }}</td>
<td class="text">{{ w.sample.reference }}</td>
<td class="text">{{ w.answer }}</td>
<td>
{% for k, v in w.metrics.items() if v is not none %}{{ k }} {{ fmt(v) }}<br>{% endfor %}</td></tr>{% endfor %}
</table>

{% if r.review_agreement %}<h2>Human review vs judge</h2>
<p>{{ r.review_agreement.reviewed_rows }} of {{ r.review_agreement.rows }} sheet rows reviewed.</p>
<table id="agreement"><tr><th>what</th><th>model</th><th>items</th><th>percent agreement</th>
<th>Cohen's kappa</th><th>linear-weighted kappa</th></tr>
{% for kind in ("accuracy", "style") %}{% for label, a in r.review_agreement[kind].items() %}
<tr><td>{{ kind }}</td><td>{{ label }}</td><td>{{ a.n }}</td><td>{{ fmt(a.percent_agreement) }}</td>
<td>{{ fmt(a.cohen_kappa) }}</td><td>{{ fmt(a.weighted_kappa) }}</td></tr>{% endfor %}{% endfor %}
{% if r.review_agreement.preference %}{% set p = r.review_agreement.preference %}
<tr><td>preference</td><td>all</td><td>{{ p.n }}</td><td>{{ fmt(p.percent_agreement) }}</td>
<td>{{ fmt(p.cohen_kappa) }}</td><td></td></tr>{% endif %}
</table>{% endif %}

{% if r.notes %}<h2>Notes</h2><ul>{% for n in r.notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
</body></html>
"""


def _cell(estimate) -> str:
    if estimate is None:
        return "n/a"
    text = estimate.as_text()
    return f"{text} ({estimate.missing} missing)" if estimate.missing else text


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _top(profile: dict[str, float], n: int = 5) -> str:
    return "  ".join(f"{mark} {share:.0%}" for mark, share in list(profile.items())[:n])


def headline_rows(result: EvaluationResult) -> list[dict]:
    rows = []
    for metric in HEADLINE:
        estimates = [m.metrics.get(metric) for m in result.models]
        if all(e is None for e in estimates):
            continue
        present = [e.value for e in estimates if e is not None and e.value is not None]
        best = (max if METRICS.get(metric, True) else min)(present) if len(present) > 1 else None
        rows.append(
            {
                "metric": metric,
                "direction": "higher" if METRICS.get(metric, True) else "lower",
                "cells": [
                    {
                        "text": _cell(e),
                        "best": best is not None and e is not None and e.value == best,
                    }
                    for e in estimates
                ],
            }
        )
    return rows


def render_html(result: EvaluationResult) -> str:
    from jinja2 import Environment

    env = Environment(autoescape=True)
    env.globals.update(fmt=_fmt, top=_top)
    author = result.author_style.get("stylometry")
    return env.from_string(_TEMPLATE).render(
        r=result,
        headline=headline_rows(result),
        gate=result.gate and _GateView(**result.gate),
        images={
            "metrics": plot_metrics(result),
            "distributions": plot_distributions(result),
            "training": plot_training(result),
        },
        author=_Obj(author) if author else None,
        worst=worst_items(result, int(result.config.get("worst_items", 5))),
        rubric=RUBRIC,
    )


class _Obj(dict):
    __getattr__ = dict.get


class _GateView(_Obj):
    def __init__(self, **data):
        super().__init__(**data)
        self["rules"] = [_Obj(r) for r in data.get("rules", [])]


def write_report(result: EvaluationResult, folder: Path | None = None) -> ReportPaths:
    """Write ``report.html`` and ``report.json`` (and the review sheet when configured)."""
    folder = Path(folder) if folder else report_folder(result)
    folder.mkdir(parents=True, exist_ok=True)
    result.report_dir = str(folder)
    html_path, json_path = folder / "report.html", folder / "report.json"
    html_path.write_text(render_html(result), encoding="utf-8")
    json_path.write_text(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=1), encoding="utf-8")
    paths = ReportPaths(folder=str(folder), html=str(html_path), json_path=str(json_path))
    review_items = int(result.config.get("review", {}).get("items", 0) or 0)
    if review_items:
        from llm_engineering.application.evaluation.review import export_review_sheet

        csv_path, page = export_review_sheet(result, folder, review_items)
        paths.review_csv, paths.review_html = str(csv_path), str(page)
    return paths
