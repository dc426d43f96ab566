"""An evaluation run from start to finish: items → model runs → scores → result → gate and report.

Each stage is one function (the pipeline's steps call them one by one; :func:`evaluate_twin` runs
them all in-process for tools and benchmarks).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from loguru import logger

from llm_engineering.application.evaluation.config import EvaluationConfig, load_config
from llm_engineering.application.evaluation.curves import training_curves
from llm_engineering.application.evaluation.gate import check_gate
from llm_engineering.application.evaluation.generation import ModelRun, run_model
from llm_engineering.application.evaluation.judge import Judge
from llm_engineering.application.evaluation.report import ReportPaths, write_report
from llm_engineering.application.evaluation.results import EvaluationResult
from llm_engineering.application.evaluation.retrieval import attach_context, retrieval_metrics
from llm_engineering.application.evaluation.review import import_review_sheet
from llm_engineering.application.evaluation.samples import EvalSample, load_samples
from llm_engineering.application.evaluation.scoring import (
    author_style,
    judge_items,
    model_summary,
    score_items,
    skipped_model_notes,
)
from llm_engineering.infrastructure.embeddings import get_embedder
from llm_engineering.model.loading import resolve_model_dir
from llm_engineering.settings import get_settings

# --- stage 1: items -------------------------------------------------------------------------------


def prepare_samples(config: EvaluationConfig) -> list[EvalSample]:
    samples = load_samples(config.dataset, config.split, config.sample_limit)
    if config.metrics.faithfulness:
        samples = attach_context(samples, k=config.retrieval.k)
    logger.info("evaluating {} items of {} ({})", len(samples), config.dataset, config.split)
    return samples


# --- stage 2: model runs --------------------------------------------------------------------------


def cache_root() -> Path:
    return get_settings().DATA_DIR / "evaluation" / "cache"


def run_models(config: EvaluationConfig, samples: Sequence[EvalSample]) -> list[ModelRun]:
    """Answers and reference loss of every configured model; a model that resolves to the same
    folder as an earlier one (e.g. ``latest`` with an empty registry) is skipped with a note."""
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
                voice=config.metrics.style and config.style.without_context,
            )
        )
    return runs


# --- stage 3: scores ------------------------------------------------------------------------------


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
    notes = skipped_model_notes(config, runs)
    if embedder is None and (toggles.semantic or toggles.style or toggles.faithfulness):
        embedder = get_embedder()
    author = author_style(config, samples, embedder, author_texts)
    items = [item for run in runs for item in score_items(config, samples, run, embedder, author)]
    judge_summary, pairwise, malformed = judge_items(config, samples, runs, items, notes, judge)
    summaries = [model_summary(config, run, items, malformed.get(run.label, 0)) for run in runs]
    retrieval = retrieval_metrics(config.retrieval.qa_path, config.retrieval.ks, notes) if toggles.retrieval else None
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
        author_style=author.info,
        retrieval=retrieval,
        training_curves=training_curves(runs),
        notes=notes,
    )


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "-", name).strip("-") or "eval"


# --- stage 4: gate, review agreement, report -------------------------------------------------------


def conclude(result: EvaluationResult, config: EvaluationConfig, *, write: bool = True) -> ReportPaths | None:
    """The end of every evaluation: the gate checked (not enforced: ``gate.enforce_gate`` does that),
    the reviewers' agreement with the judge when a filled review sheet is configured, the report."""
    result.gate = check_gate(result, config.gate).model_dump()
    if config.review.import_path:
        result.review_agreement = import_review_sheet(Path(config.review.import_path)).model_dump()
    return write_report(result) if write else None


# --- all at once -----------------------------------------------------------------------------------


def evaluate_twin(
    config: EvaluationConfig | dict | None = None, *, author_texts: Sequence[str] | None = None, write: bool = True
) -> tuple[EvaluationResult, ReportPaths | None]:
    """Run every stage; returns ``(result, report_paths or None)``. The gate is checked, not enforced."""
    config = load_config(config)
    samples = prepare_samples(config)
    runs = run_models(config, samples)
    result = score_runs(config, samples, runs, author_texts=author_texts)
    return result, conclude(result, config, write=write)
