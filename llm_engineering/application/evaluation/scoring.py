"""Stage 3 of an evaluation, piece by piece: per-item scores of one model run, the judge's scores
and pairwise verdicts, and the per-model summaries with their bootstrap intervals."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from loguru import logger

from llm_engineering.application.evaluation import reference as ref
from llm_engineering.application.evaluation import style as sty
from llm_engineering.application.evaluation.config import EvaluationConfig
from llm_engineering.application.evaluation.faithfulness import faithfulness
from llm_engineering.application.evaluation.generation import ModelRun
from llm_engineering.application.evaluation.judge import Judge
from llm_engineering.application.evaluation.results import (
    PER_ITEM_METRICS,
    ItemScore,
    JudgeSummary,
    ModelSummary,
    PairwiseSummary,
)
from llm_engineering.application.evaluation.samples import EvalSample
from llm_engineering.application.evaluation.stats import Estimate, bootstrap_mean, bootstrap_ratio
from llm_engineering.exceptions import LLMTwinError
from llm_engineering.infrastructure.llm import get_llm
from llm_engineering.settings import get_settings


def skipped_model_notes(config: EvaluationConfig, runs: Sequence[ModelRun]) -> list[str]:
    """One note per configured model that ``run_models`` skipped (same weights as another)."""
    evaluated = {r.label for r in runs}
    return [
        f"model {spec.label!r} ({spec.model_id or 'base'}) resolved to weights already evaluated under "
        "another label (e.g. 'latest' with an empty registry): not evaluated twice"
        for spec in config.models
        if spec.label not in evaluated
    ]


# --- the author's style -----------------------------------------------------------------------------


@dataclass
class AuthorStyle:
    """What the style metrics compare answers with: where it came from, the centroid of its
    embeddings and its stylometric profile (None when style is off or nothing was found)."""

    info: dict[str, Any] = field(default_factory=dict)
    center: np.ndarray | None = None
    profile: sty.Stylometry | None = None


def author_style(
    config: EvaluationConfig, samples: Sequence[EvalSample], embedder, author_texts: Sequence[str] | None
) -> AuthorStyle:
    """The author's style from ``author_texts``, else the author's chunks in the vector store, else
    (when allowed) the reference answers; an empty one when the style metrics are off."""
    if not config.metrics.style:
        return AuthorStyle()
    info, center, profile = _author_source(config, samples, embedder, author_texts)
    if profile is not None:
        info["stylometry"] = profile.model_dump()
    return AuthorStyle(info, center, profile)


def _author_source(
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


# --- per-item metrics -------------------------------------------------------------------------------


def score_items(
    config: EvaluationConfig, samples: Sequence[EvalSample], run: ModelRun, embedder, author: AuthorStyle
) -> list[ItemScore]:
    """The enabled per-item metrics (all but the judge's) of every answer of one model run."""
    toggles = config.metrics
    by_id = {s.id: s for s in samples}
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
    if toggles.style and author.center is not None:
        voiced = style_texts(run)
        for row, v in zip(per_item, sty.style_similarity(embedder, voiced, author.center), strict=True):
            row["style_similarity"] = v
        for row, a in zip(per_item, voiced, strict=True):
            row["stylometry_distance"] = sty.stylometry([a]).distance(author.profile) if a.strip() else None
    if toggles.faithfulness:
        for row, item in zip(per_item, run.items, strict=True):
            context = by_id[item.sample_id].context
            row["faithfulness"] = faithfulness(embedder, item.answer or "", context).score if context else None
    return [
        ItemScore(
            sample_id=i.sample_id,
            model=run.label,
            answer=i.answer,
            voice_answer=i.voice_answer,
            finish_reason=i.finish_reason,
            metrics=m,
        )
        for i, m in zip(run.items, per_item, strict=True)
    ]


def style_texts(run: ModelRun) -> list[str]:
    """What the style metrics read for each item: the answer to the bare question when the run has
    one (the item's answer was grounded in retrieved passages), else the answer."""
    return [(i.voice_answer if i.voice_answer is not None else i.answer) or "" for i in run.items]


# --- the judge ----------------------------------------------------------------------------------------


def _judge_client(config: EvaluationConfig) -> Judge:
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


def judge_items(
    config: EvaluationConfig,
    samples: Sequence[EvalSample],
    runs: Sequence[ModelRun],
    items: list[ItemScore],
    notes: list[str],
    judge: Judge | None = None,
) -> tuple[JudgeSummary | None, PairwiseSummary | None, dict[str, int]]:
    """The judge's accuracy/style scores (written into ``items``) and the candidate-vs-baseline
    verdicts, after the judge's sanity check; returns (judge summary, pairwise summary,
    malformed replies per model). Why a part was skipped goes into ``notes``."""
    toggles = config.metrics
    labels = [r.label for r in runs]
    cand, base = config.gate.candidate, config.gate.baseline
    both = cand in labels and base in labels
    if toggles.pairwise and not both:
        notes.append(f"pairwise preference skipped: needs models {cand!r} and {base!r} (have {labels})")
    if not (toggles.judge or toggles.pairwise):
        return None, None, {}
    judge = judge or _judge_client(config)
    use_scores, use_pairwise, sanity, skipped = _vet_judge(judge, config, toggles.judge, toggles.pairwise and both)
    notes.extend(skipped)
    limit = config.judge.max_items or len(samples)
    judged = list(samples)[:limit] if use_scores or use_pairwise else []
    answers_of = {(i.model, i.sample_id): i for i in items}
    malformed = _judge_scores(judge, labels, judged, answers_of) if use_scores else {}
    pairwise = _pairwise(config, judge, judged, answers_of) if use_pairwise else None
    summary = JudgeSummary(
        name=judge.name,
        weak=judge.weak,
        judged_items=len({s.id for s in judged}),
        note="local small model: a weak judge, read its scores as a smoke test only" if judge.weak else "",
        method=judge.method,
        sanity=sanity,
        skipped=skipped,
    )
    return summary, pairwise, malformed


def _judge_scores(
    judge: Judge, labels: Sequence[str], judged: Sequence[EvalSample], answers_of: dict[tuple[str, str], ItemScore]
) -> dict[str, int]:
    """Accuracy and style scores of every model's judged answers, into their items; the count of
    malformed replies per model."""
    malformed: dict[str, int] = {}
    for label in labels:
        triples = [(s.instruction, s.reference, answers_of[(label, s.id)].answer or "") for s in judged]
        scores = judge.score(triples)
        malformed[label] = sum(sc.malformed for sc in scores)
        for s, sc in zip(judged, scores, strict=True):
            answers_of[(label, s.id)].metrics.update(judge_accuracy=sc.accuracy, judge_style=sc.style)
    return malformed


def _pairwise(
    config: EvaluationConfig,
    judge: Judge,
    judged: Sequence[EvalSample],
    answers_of: dict[tuple[str, str], ItemScore],
) -> PairwiseSummary:
    """The judge's preference between the gate's candidate and baseline, item by item, with the
    candidate's win rate and how consistent the verdicts were when the order was swapped."""
    cand, base = config.gate.candidate, config.gate.baseline
    quads = [
        (s.instruction, s.reference, answers_of[(cand, s.id)].answer or "", answers_of[(base, s.id)].answer or "")
        for s in judged
    ]
    verdicts = judge.pairwise(quads)
    consistent = [v.consistent for v in verdicts if v.consistent is not None]
    return PairwiseSummary(
        candidate=cand,
        baseline=base,
        win_rate=bootstrap_mean(
            [v.score for v in verdicts], config.confidence, config.bootstrap_resamples, config.seed
        ),
        consistency=sum(consistent) / len(consistent) if consistent else None,
        malformed=sum(v.malformed for v in verdicts),
        items={s.id: v for s, v in zip(judged, verdicts, strict=True)},
    )


# --- per-model summaries ----------------------------------------------------------------------------


def model_summary(config: EvaluationConfig, run: ModelRun, items: Sequence[ItemScore], malformed: int) -> ModelSummary:
    """One model's metrics over its items, each with a bootstrap interval (loss token-weighted,
    with perplexity beside it), and the stylometry of its answers."""
    summary = ModelSummary(
        label=run.label,
        model_id=run.model_id,
        version=run.version,
        model_dir=run.model_dir,
        generation_seconds=run.generation_seconds,
        loss_seconds=run.loss_seconds,
        cached_items=run.cached_items,
        judge_malformed=malformed,
    )
    mine = [i for i in items if i.model == run.label]
    if config.metrics.loss:
        _add_loss(config, run, summary)
    for metric in PER_ITEM_METRICS[1:]:
        values = [i.metrics.get(metric) for i in mine if metric in i.metrics]
        if values:
            summary.metrics[metric] = bootstrap_mean(values, config.confidence, config.bootstrap_resamples, config.seed)
    if config.metrics.style:
        summary.stylometry = sty.stylometry(style_texts(run))
    return summary


def _add_loss(config: EvaluationConfig, run: ModelRun, summary: ModelSummary) -> None:
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
