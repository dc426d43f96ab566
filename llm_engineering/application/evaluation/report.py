"""The run's report: one self-contained HTML page (tables + matplotlib plots inlined as PNG) and
the same numbers as JSON, written beside the evaluated model version in the registry, or under
``DATA_DIR/reports/<run>/`` when the candidate is not a registry version.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

from pydantic import BaseModel

from llm_engineering.application.evaluation.comparison import Comparison, compare_models
from llm_engineering.application.evaluation.config import METRICS
from llm_engineering.application.evaluation.curves import registry_version_dir
from llm_engineering.application.evaluation.judge import RUBRIC
from llm_engineering.application.evaluation.results import PER_ITEM_METRICS, EvaluationResult
from llm_engineering.application.evaluation.review import export_review_sheet
from llm_engineering.settings import get_settings

HEADLINE = ["loss", "perplexity", *PER_ITEM_METRICS[1:]]  # the per-item metrics, perplexity beside loss
DISTRIBUTIONS = ["loss", "rouge_l", "chrf", "semantic_similarity", "style_similarity", "judge_accuracy"]

# What each metric measures, shown beside its row so a reader need not know the names.
METRIC_HELP: dict[str, str] = {
    "loss": "mean cross-entropy of the reference answer's tokens given the question (nats per token): "
    "how surprised the model is by the author's own answer",
    "perplexity": "exp(loss): the number of equally likely tokens the model hesitates between",
    "rouge_l": "longest common word subsequence between answer and reference (F-measure, 0–1)",
    "bleu": "shared word n-grams (1–4) between answer and reference, with a brevity penalty (0–100)",
    "chrf": "shared character n-grams between answer and reference (F-score, 0–100; robust for Korean)",
    "semantic_similarity": "cosine of the answer's and the reference's sentence embeddings",
    "style_similarity": "cosine of the answer's embedding to the centre of the author's own texts "
    "(on answers to the bare question when the others were grounded in retrieved passages)",
    "stylometry_distance": "distance of the answer's sentence length, vocabulary and punctuation habits "
    "from the author's (same answers as style similarity)",
    "judge_accuracy": "the judge model's 1–3 score for factual agreement with the reference",
    "judge_style": "the judge model's 1–3 score for writing like the reference",
    "faithfulness": "share of the answer's words that make distinct claims the retrieved context supports "
    "(repeated sentences and repeated word sequences count as no content)",
    "pairwise_win_rate": "how often the judge prefers the candidate's answer to the baseline's, both orders",
}


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
    fig, axes = _figure(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    fig.subplots_adjust(hspace=0.45)
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


def smooth(values: list[float], window: int | None = None) -> list[float]:
    """Trailing moving average (window: a tenth of the curve, at least 1): the trend of a noisy
    per-step loss; the first points average what came before them."""
    window = window or max(1, len(values) // 10)
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_training(result: EvaluationResult) -> str | None:
    """SFT and DPO losses on separate axes (their scales differ); each curve raw (faint) and smoothed."""
    if not result.training_curves:
        return None
    stages = {"SFT": {}, "DPO": {}}
    for name, points in result.training_curves.items():
        stages["DPO" if "dpo" in name.lower() else "SFT"][name] = points
    shown = [(stage, curves) for stage, curves in stages.items() if curves]
    fig, axes = _figure(1, len(shown), figsize=(5.5 * len(shown), 3.2), squeeze=False)
    for ax, (stage, curves) in zip(axes.flat, shown, strict=True):
        for name, points in curves.items():
            steps, losses = [p[0] for p in points], [p[1] for p in points]
            (raw,) = ax.plot(steps, losses, linewidth=0.8, alpha=0.3)
            ax.plot(steps, smooth(losses), color=raw.get_color(), linewidth=1.6, label=name)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend(fontsize=7)
        ax.set_title(f"{stage} loss (faint: per step; line: moving average)", fontsize=10)
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
.verdict{font-size:17px;background:#eef3fb;padding:.6em 1em;border-left:4px solid #1a73e8}
td.help{color:#555;font-size:12px;max-width:320px}
td.text{max-width:380px;white-space:pre-wrap}
</style></head><body>
<h1>Evaluation report: {{ r.run_name }}</h1>
{% if comparison %}<p id="verdict" class="verdict"><b>Verdict</b> — {{ comparison.line() }}
<br><small>Paired bootstrap over the items both models answered; a difference counts only when its
{{ (r.config.confidence * 100)|round|int }}% interval excludes 0. Overlapping per-model intervals are
not a test.</small></p>{% endif %}
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
<p>Bold: significantly better than the other model of the comparison (paired bootstrap); no bold,
no significant difference.</p>
<table id="headline"><tr><th>metric</th>
<th>better</th>{% for m in r.models %}<th>{{ m.label }}</th>{% endfor %}
{% if comparison %}<th>{{ comparison.candidate }} − {{ comparison.baseline }} [interval]</th><th>verdict</th>{% endif %}
<th>what it measures</th></tr>
{% for row in headline %}<tr><td>{{ row.metric }}</td>
<td>{{ row.direction }}</td>
{% for cell in row.cells %}<td class="{{ 'best' if cell.best else '' }}">{{ cell.text }}</td>{% endfor %}
{% if comparison %}<td>{{ row.difference }}</td><td>{{ row.verdict }}</td>{% endif %}
<td class="help">{{ row.help }}</td>
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
<th>paired difference [interval]</th>
<th>requires</th>
<th>result</th></tr>
{% for o in gate.rules %}<tr><td>{{ o.metric }}</td>
<td>{{ fmt(o.baseline) }}</td>
<td>{{ fmt(o.candidate) }}</td>
<td>{{ fmt(o.regression) }}</td>
<td>{{ fmt(o.max_regression) }}</td>
<td>{{ o.interval }}</td>
<td>{{ (o.require or "not_worse")|replace("_", " ") }}</td>
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
{% if voiced %}<p id="style-answers">Style is measured on each model's answer to the bare question,
written without the retrieved passages: a grounded answer that copies the author's passages would
look like the author whatever the model.</p>{% endif %}
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
{% if r.judge.method %}<p>Method: {{ r.judge.method }}.{% if r.judge.sanity %} Sanity check (a correct vs a plainly
wrong answer; needs {{ r.judge.sanity.needed }} of {{ r.judge.sanity["items"] }}): correct answer scored higher on
{{ r.judge.sanity.scored_right }} of {{ r.judge.sanity.scored_asked }} asked{% if r.judge.sanity.preferred_right is
not none %}, preferred in both orders on {{ r.judge.sanity.preferred_right }} of {{ r.judge.sanity.preferred_asked
}}{% endif %}.{% endif %}</p>{% endif %}
{% for line in r.judge.skipped %}<p class="note judge-skipped">{{ line }}.</p>{% endfor %}
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


def comparison_of(result: EvaluationResult) -> Comparison | None:
    """The gate's candidate against its baseline (or the last model against the first)."""
    labels = [m.label for m in result.models]
    gate = result.config.get("gate", {})
    baseline, candidate = gate.get("baseline"), gate.get("candidate")
    if baseline not in labels or candidate not in labels:
        if len(labels) < 2:
            return None
        baseline, candidate = labels[0], labels[-1]
    return compare_models(result, baseline, candidate)


def headline_rows(result: EvaluationResult, comparison: Comparison | None = None) -> list[dict]:
    """One row per metric; a cell is bold only when the paired comparison of candidate and baseline
    is significant, and then the better of the two is."""
    rows = []
    for metric in HEADLINE:
        estimates = [m.metrics.get(metric) for m in result.models]
        if all(e is None for e in estimates):
            continue
        paired = comparison.metrics.get("loss" if metric == "perplexity" else metric) if comparison else None
        winner = None
        if paired is not None and paired.significant:
            winner = comparison.candidate if paired.verdict == "better" else comparison.baseline
        rows.append(
            {
                "metric": metric,
                "help": METRIC_HELP.get(metric, ""),
                "direction": "higher" if METRICS.get(metric, True) else "lower",
                "cells": [
                    {"text": _cell(e), "best": winner == m.label} for m, e in zip(result.models, estimates, strict=True)
                ],
                "difference": paired.as_text() if paired is not None and metric != "perplexity" else "",
                "verdict": paired.verdict if paired is not None else "",
            }
        )
    return rows


def render_html(result: EvaluationResult) -> str:
    from jinja2 import Environment

    env = Environment(autoescape=True)
    env.globals.update(fmt=_fmt, top=_top)
    author = result.author_style.get("stylometry")
    comparison = comparison_of(result)
    return env.from_string(_TEMPLATE).render(
        r=result,
        comparison=comparison,
        headline=headline_rows(result, comparison),
        gate=result.gate and _GateView(**result.gate),
        images={
            "metrics": plot_metrics(result),
            "distributions": plot_distributions(result),
            "training": plot_training(result),
        },
        author=_Obj(author) if author else None,
        voiced=any(i.voice_answer is not None for i in result.items),
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
        csv_path, page = export_review_sheet(result, folder, review_items)
        paths.review_csv, paths.review_html = str(csv_path), str(page)
    return paths


def copy_to_reports(folder: Path, run_name: str) -> Path:
    """``folder`` (a written report) copied to DATA_DIR/reports/<run_name>/ unless it is that folder."""
    target = get_settings().DATA_DIR / "reports" / run_name
    if target.resolve() != folder.resolve():
        shutil.copytree(folder, target, dirs_exist_ok=True)
    return target
