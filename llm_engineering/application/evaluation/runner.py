"""An evaluation run from start to finish: items → model runs → scores → result.

Each stage is one function (the pipeline's steps call them one by one; :func:`evaluate` runs
them all in-process for tools and benchmarks).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger
from pydantic import BaseModel, Field

from llm_engineering.application.evaluation import reference as ref
from llm_engineering.application.evaluation import style as sty
from llm_engineering.application.evaluation.config import EvaluationConfig, load_config
from llm_engineering.application.evaluation.faithfulness import faithfulness
from llm_engineering.application.evaluation.generation import ModelRun, run_model
from llm_engineering.application.evaluation.judge import Judge, PairwiseVerdict
from llm_engineering.application.evaluation.samples import EvalSample, load_samples
from llm_engineering.application.evaluation.stats import Estimate, bootstrap_mean, bootstrap_ratio
from llm_engineering.exceptions import LLMTwinError
from llm_engineering.settings import get_settings

PER_ITEM_METRICS = (
    "loss",
    "rouge_l",
    "bleu",
    "chrf",
    "semantic_similarity",
    "style_similarity",
    "stylometry_distance",
    "judge_accuracy",
    "judge_style",
    "faithfulness",
)


class ItemScore(BaseModel):
    sample_id: str
    model: str
    answer: str | None
    finish_reason: str = ""
    metrics: dict[str, float | None] = Field(default_factory=dict)


class ModelSummary(BaseModel):
    label: str
    model_id: str
    version: str
    model_dir: str
    metrics: dict[str, Estimate] = Field(default_factory=dict)
    loss_tokens: int = 0
    stylometry: sty.Stylometry | None = None
    generation_seconds: float = 0.0
    loss_seconds: float = 0.0
    cached_items: int = 0
    judge_malformed: int = 0


class PairwiseSummary(BaseModel):
    candidate: str
    baseline: str
    win_rate: Estimate
    consistency: float | None
    malformed: int
    items: dict[str, PairwiseVerdict] = Field(default_factory=dict)


class JudgeSummary(BaseModel):
    name: str
    weak: bool
    judged_items: int
    note: str = ""
    method: str = ""
    sanity: dict[str, Any] | None = None
    """The judge's results on the built-in sanity items (``judge.SanityCheck``), when checked."""
    skipped: list[str] = Field(default_factory=list)
    """Why scores or pairwise verdicts were not asked for (a judge too weak to trust)."""


class EvaluationResult(BaseModel):
    run_name: str
    created_at: str
    dataset: str
    config: dict[str, Any]
    samples: list[EvalSample]
    models: list[ModelSummary]
    items: list[ItemScore]
    judge: JudgeSummary | None = None
    pairwise: PairwiseSummary | None = None
    author_style: dict[str, Any] = Field(default_factory=dict)
    retrieval: dict[str, Any] | None = None
    training_curves: dict[str, list[tuple[float, float]]] = Field(default_factory=dict)
    report_dir: str | None = None
    notes: list[str] = Field(default_factory=list)
    gate: dict[str, Any] | None = None
    review_agreement: dict[str, Any] | None = None

    def model(self, label: str) -> ModelSummary:
        for m in self.models:
            if m.label == label:
                return m
        raise KeyError(f"no model {label!r} in this evaluation (have {[m.label for m in self.models]})")

    def metric(self, label: str, metric: str) -> float | None:
        if metric == "pairwise_win_rate":
            if self.pairwise is None:
                return None
            if label == self.pairwise.candidate:
                return self.pairwise.win_rate.value
            if label == self.pairwise.baseline and self.pairwise.win_rate.value is not None:
                return 1 - self.pairwise.win_rate.value
            return None
        estimate = self.model(label).metrics.get(metric)
        return estimate.value if estimate else None

    def item_values(self, label: str, metric: str) -> list[float]:
        return [i.metrics[metric] for i in self.items if i.model == label and i.metrics.get(metric) is not None]


# --- stage 1: items -------------------------------------------------------------------------------


def prepare_samples(config: EvaluationConfig) -> list[EvalSample]:
    samples = load_samples(config.dataset, config.split, config.sample_limit)
    if config.metrics.faithfulness:
        from llm_engineering.application.evaluation.retrieval import attach_context

        samples = attach_context(samples, k=config.retrieval.k)
    logger.info("evaluating {} items of {} ({})", len(samples), config.dataset, config.split)
    return samples


# --- stage 2: model runs --------------------------------------------------------------------------


def cache_root() -> Path:
    return get_settings().DATA_DIR / "evaluation" / "cache"


def run_models(config: EvaluationConfig, samples: Sequence[EvalSample]) -> list[ModelRun]:
    """Answers and reference loss of every configured model; a model that resolves to the same
    folder as an earlier one (e.g. ``latest`` with an empty registry) is skipped with a note."""
    from llm_engineering.model.loading import resolve_model_dir

    runs: list[ModelRun] = []
    seen: dict[str, str] = {}
    for spec in config.models:
        folder = str(resolve_model_dir(spec.model_id or None).resolve())
        if folder in seen:
            logger.warning("model {!r} is the same as {!r} ({}); skipped", spec.label, seen[folder], folder)
            continue
        seen[folder] = spec.label
        runs.append(
            run_model(
                spec.label,
                spec.model_id,
                samples,
                cache_root=cache_root(),
                generate=True,
                loss=config.metrics.loss,
                max_new_tokens=config.generation.max_new_tokens,
                batch_size=config.generation.batch_size,
                system_prompt=config.generation.system_prompt,
            )
        )
    return runs


# --- stage 3: scores ------------------------------------------------------------------------------


def _author_style(
    config: EvaluationConfig, samples: Sequence[EvalSample], embedder, author_texts
) -> tuple[dict, np.ndarray | None, sty.Stylometry | None]:
    if author_texts:
        vectors = embedder.encode(list(author_texts))
        return (
            {"source": "given texts", "texts": len(author_texts)},
            sty.centroid(vectors),
            sty.stylometry(author_texts),
        )
    found = None
    try:
        found = sty.author_chunk_centroid_and_texts(config.style.author_full_name)
    except (LLMTwinError, OSError, RuntimeError, ValueError) as exc:  # a locked/missing vector store
        logger.warning("author chunks unavailable ({}: {})", type(exc).__name__, exc)
    if found is not None:
        center, texts = found
        return {"source": "author chunk embeddings", "texts": len(texts)}, center, sty.stylometry(texts)
    if config.style.fallback_to_references:
        refs = [s.reference for s in samples]
        return (
            {"source": "reference answers (no author chunks in the vector store)", "texts": len(refs)},
            sty.centroid(embedder.encode(refs)),
            sty.stylometry(refs),
        )
    return {"source": "none"}, None, None


def _judge_client(config: EvaluationConfig):
    from llm_engineering.infrastructure.llm import get_llm

    settings = get_settings()
    client = get_llm(config.judge.model_id or None)
    weak = not settings.LLM_BASE_URL
    name = getattr(client, "model_id", "") or "judge"
    return Judge(client, max_tokens=config.judge.max_tokens, weak=weak, name=name)


def _vet_judge(
    judge: Judge, config: EvaluationConfig, scores: bool, pairwise: bool
) -> tuple[bool, bool, dict[str, Any] | None, list[str]]:
    """Which of scores / pairwise verdicts to ask ``judge`` for, after its sanity check:
    (use scores, use pairwise, the check's results, one line per skipped part)."""
    minimum = config.judge.min_sanity_agreement
    if minimum is None or not (scores or pairwise):
        return scores, pairwise, None, []
    started = time.perf_counter()
    check = judge.sanity_check(minimum, pairwise=pairwise)
    logger.info(
        "judge {} sanity check in {:.0f}s: scores {}/{} right{} (needs {} of {})",
        judge.name,
        time.perf_counter() - started,
        check.scored_right,
        check.scored_asked,
        f", comparisons {check.preferred_right}/{check.preferred_asked} right" if pairwise else "",
        check.needed,
        check.items,
    )
    skipped = []
    if scores and not check.scoring_passed:
        skipped.append(f"judge scores skipped: {judge.name} is too weak a judge — {check.failure('scores')}")
    if pairwise and not check.pairwise_passed:
        skipped.append(f"pairwise preference skipped: {judge.name} is too weak a judge — {check.failure('pairwise')}")
    for line in skipped:
        logger.warning("{} (a stronger judge: judge.model_id with LLM_BASE_URL)", line)
    sanity = {**check.model_dump(), "scoring_passed": check.scoring_passed, "pairwise_passed": check.pairwise_passed}
    return scores and check.scoring_passed, pairwise and check.pairwise_passed, sanity, skipped


def score_runs(
    config: EvaluationConfig,
    samples: Sequence[EvalSample],
    runs: Sequence[ModelRun],
    *,
    author_texts: Sequence[str] | None = None,
    embedder=None,
    judge: Judge | None = None,
) -> EvaluationResult:
    """Every enabled metric for every model, with bootstrap intervals."""
    toggles = config.metrics
    by_id = {s.id: s for s in samples}
    notes: list[str] = []
    evaluated = {r.label for r in runs}
    for spec in config.models:
        if spec.label not in evaluated:
            notes.append(
                f"model {spec.label!r} ({spec.model_id or 'base'}) resolved to weights already evaluated under "
                "another label (e.g. 'latest' with an empty registry): not evaluated twice"
            )
    if embedder is None and (toggles.semantic or toggles.style or toggles.faithfulness):
        from llm_engineering.infrastructure.embeddings import get_embedder

        embedder = get_embedder()
    author_info: dict[str, Any] = {}
    author_center = author_profile = None
    if toggles.style:
        author_info, author_center, author_profile = _author_style(config, samples, embedder, author_texts)
        if author_profile is not None:
            author_info["stylometry"] = author_profile.model_dump()

    items: list[ItemScore] = []
    for run in runs:
        answers = [i.answer or "" for i in run.items]
        refs = [by_id[i.sample_id].reference for i in run.items]
        per_item: list[dict[str, float | None]] = [{} for _ in run.items]
        for row, item in zip(per_item, run.items, strict=True):
            row["loss"] = item.loss_sum / item.loss_tokens if item.loss_sum is not None and item.loss_tokens else None
        if toggles.overlap:
            for row, a, r in zip(per_item, answers, refs, strict=True):
                row.update(ref.overlap_scores(a, r))
        if toggles.semantic:
            for row, v in zip(per_item, ref.semantic_similarity(embedder, answers, refs), strict=True):
                row["semantic_similarity"] = v
        if toggles.style and author_center is not None:
            for row, v in zip(per_item, sty.style_similarity(embedder, answers, author_center), strict=True):
                row["style_similarity"] = v
            for row, a in zip(per_item, answers, strict=True):
                row["stylometry_distance"] = sty.stylometry([a]).distance(author_profile) if a.strip() else None
        if toggles.faithfulness:
            for row, item in zip(per_item, run.items, strict=True):
                context = by_id[item.sample_id].context
                row["faithfulness"] = faithfulness(embedder, item.answer or "", context).score if context else None
        items.extend(
            ItemScore(sample_id=i.sample_id, model=run.label, answer=i.answer, finish_reason=i.finish_reason, metrics=m)
            for i, m in zip(run.items, per_item, strict=True)
        )

    judge_summary = pairwise = None
    malformed: dict[str, int] = {}
    labels = [r.label for r in runs]
    cand, base = config.gate.candidate, config.gate.baseline
    if toggles.pairwise and not (cand in labels and base in labels):
        notes.append(f"pairwise preference skipped: needs models {cand!r} and {base!r} (have {labels})")
    if toggles.judge or toggles.pairwise:
        judge = judge or _judge_client(config)
        use_scores, use_pairwise, sanity, skipped = _vet_judge(
            judge, config, toggles.judge, toggles.pairwise and cand in labels and base in labels
        )
        notes.extend(skipped)
        limit = config.judge.max_items or len(samples)
        judged = [s for s in samples][:limit] if use_scores or use_pairwise else []
        judged_ids = {s.id for s in judged}
        answers_of = {(i.model, i.sample_id): i for i in items}
        if use_scores:
            for run in runs:
                triples = [(s.instruction, s.reference, answers_of[(run.label, s.id)].answer or "") for s in judged]
                scores = judge.score(triples)
                malformed[run.label] = sum(sc.malformed for sc in scores)
                for s, sc in zip(judged, scores, strict=True):
                    answers_of[(run.label, s.id)].metrics.update(judge_accuracy=sc.accuracy, judge_style=sc.style)
        if use_pairwise:
            quads = [
                (
                    s.instruction,
                    s.reference,
                    answers_of[(cand, s.id)].answer or "",
                    answers_of[(base, s.id)].answer or "",
                )
                for s in judged
            ]
            verdicts = judge.pairwise(quads)
            consistent = [v.consistent for v in verdicts if v.consistent is not None]
            pairwise = PairwiseSummary(
                candidate=cand,
                baseline=base,
                win_rate=bootstrap_mean(
                    [v.score for v in verdicts], config.confidence, config.bootstrap_resamples, config.seed
                ),
                consistency=sum(consistent) / len(consistent) if consistent else None,
                malformed=sum(v.malformed for v in verdicts),
                items={s.id: v for s, v in zip(judged, verdicts, strict=True)},
            )
        judge_summary = JudgeSummary(
            name=judge.name,
            weak=judge.weak,
            judged_items=len(judged_ids),
            note="local small model: a weak judge, read its scores as a smoke test only" if judge.weak else "",
            method=judge.method,
            sanity=sanity,
            skipped=skipped,
        )

    summaries = []
    for run in runs:
        summary = ModelSummary(
            label=run.label,
            model_id=run.model_id,
            version=run.version,
            model_dir=run.model_dir,
            generation_seconds=run.generation_seconds,
            loss_seconds=run.loss_seconds,
            cached_items=run.cached_items,
            judge_malformed=malformed.get(run.label, 0),
        )
        mine = [i for i in items if i.model == run.label]
        if toggles.loss:
            present = [i for i in run.items if i.loss_sum is not None and i.loss_tokens]
            loss = bootstrap_ratio(
                [i.loss_sum for i in present],
                [i.loss_tokens for i in present],
                config.confidence,
                config.bootstrap_resamples,
                config.seed,
            )
            summary.metrics["loss"] = loss
            summary.loss_tokens = sum(i.loss_tokens for i in present)
            if loss.value is not None:
                summary.metrics["perplexity"] = Estimate(
                    value=math.exp(loss.value), low=math.exp(loss.low), high=math.exp(loss.high), n=loss.n
                )
        for metric in PER_ITEM_METRICS[1:]:
            values = [i.metrics.get(metric) for i in mine if metric in i.metrics]
            if values:
                summary.metrics[metric] = bootstrap_mean(
                    values, config.confidence, config.bootstrap_resamples, config.seed
                )
        if toggles.style:
            summary.stylometry = sty.stylometry([i.answer or "" for i in mine])
        summaries.append(summary)

    retrieval = None
    if toggles.retrieval:
        from llm_engineering.application.evaluation.retrieval import retrieval_metrics

        retrieval = retrieval_metrics(config.retrieval.qa_path, config.retrieval.ks, notes)
    run_name = config.run_name or datetime.now(UTC).strftime("eval-%Y%m%d-%H%M%S")
    return EvaluationResult(
        run_name=_safe_name(run_name),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        dataset=config.dataset,
        config=config.model_dump(),
        samples=list(samples),
        models=summaries,
        items=items,
        judge=judge_summary,
        pairwise=pairwise,
        author_style=author_info,
        retrieval=retrieval,
        training_curves=training_curves(runs),
        notes=notes,
    )


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "-", name).strip("-") or "eval"


# --- training curves from the registry -------------------------------------------------------------


def registry_version_dir(model_dir: str | Path) -> Path | None:
    """The registry version folder holding ``model_dir`` (``<version>/model``), if any."""
    folder = Path(model_dir)
    for candidate in (folder.parent, folder):
        if (candidate / "manifest.json").is_file():
            return candidate
    return None


def _curves_in(data: Any, path: str, out: dict[str, list[tuple[float, float]]]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            _curves_in(value, f"{path}.{key}" if path else str(key), out)
    elif isinstance(data, list) and len(data) >= 2:
        if all(isinstance(v, dict) and isinstance(v.get("loss"), (int, float)) for v in data):
            out[path] = [(float(v.get("step", i)), float(v["loss"])) for i, v in enumerate(data)]
        elif "loss" in path.lower() and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data):
            out[path] = [(float(i), float(v)) for i, v in enumerate(data)]
        elif "loss" in path.lower() and all(isinstance(v, (list, tuple)) and len(v) == 2 for v in data):
            out[path] = [(float(a), float(b)) for a, b in data]


def training_curves(runs: Sequence[ModelRun]) -> dict[str, list[tuple[float, float]]]:
    """Loss curves found in the registry's ``metrics.json`` of each evaluated version."""
    import json

    curves: dict[str, list[tuple[float, float]]] = {}
    for run in runs:
        version_dir = registry_version_dir(run.model_dir)
        metrics_file = version_dir / "metrics.json" if version_dir else None
        if metrics_file is None or not metrics_file.is_file():
            continue
        try:
            data = json.loads(metrics_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            logger.warning("unreadable {}", metrics_file)
            continue
        found: dict[str, list[tuple[float, float]]] = {}
        _curves_in(data, "", found)
        curves.update({f"{run.label} {version_dir.name}: {k}": v for k, v in found.items()})
    return curves


# --- all at once -----------------------------------------------------------------------------------


def evaluate(
    config: EvaluationConfig | dict | None = None, *, author_texts: Sequence[str] | None = None, write: bool = True
):
    """Run every stage; returns ``(result, report_paths or None)``. The gate is checked, not enforced."""
    from llm_engineering.application.evaluation.gate import check_gate
    from llm_engineering.application.evaluation.report import write_report

    config = load_config(config)
    samples = prepare_samples(config)
    runs = run_models(config, samples)
    result = score_runs(config, samples, runs, author_texts=author_texts)
    result.gate = check_gate(result, config.gate).model_dump()
    if config.review.import_path:
        from llm_engineering.application.evaluation.review import import_review_sheet

        result.review_agreement = import_review_sheet(Path(config.review.import_path)).model_dump()
    paths = write_report(result) if write else None
    return result, paths
