"""Candidate against baseline, metric by metric and family by family: the report's verdict line and
the gate's evidence.

Every per-item metric is compared on the items both models answered, with a paired bootstrap of
the per-item differences (``stats.paired_bootstrap``); the pairwise win rate, already a comparison,
against 0.5. A difference is *significant* when its interval excludes 0 — overlapping per-model
intervals say nothing either way. A family is ``better`` when one of its metrics is significantly
better and none significantly worse (``worse`` the other way round, ``mixed`` when both happen),
else ``no significant difference``.
"""

from __future__ import annotations

from pydantic import BaseModel

from llm_engineering.application.evaluation.config import METRICS
from llm_engineering.application.evaluation.stats import PairedComparison, one_sample_bootstrap, paired_bootstrap

# Metric families of the verdict line (perplexity is the loss restated, so it is left out).
FAMILIES: dict[str, tuple[str, ...]] = {
    "loss on the references": ("loss",),
    "overlap with the references": ("rouge_l", "bleu", "chrf"),
    "meaning": ("semantic_similarity",),
    "style": ("style_similarity", "stylometry_distance"),
    "judge": ("judge_accuracy", "judge_style", "pairwise_win_rate"),
    "grounding": ("faithfulness",),
}


class FamilyVerdict(BaseModel):
    family: str
    verdict: str
    metrics: list[str]


class Comparison(BaseModel):
    baseline: str
    candidate: str
    metrics: dict[str, PairedComparison]
    families: list[FamilyVerdict]

    def line(self) -> str:
        """One line: ``tuned vs base: loss on the references better · style no significant difference``."""
        parts = [f"{f.family} {f.verdict}" for f in self.families]
        return f"{self.candidate} vs {self.baseline}: " + (" · ".join(parts) if parts else "nothing to compare")


def compare_metric(result, baseline: str, candidate: str, metric: str) -> PairedComparison:
    """Paired comparison of one metric (candidate − baseline) on a finished ``EvaluationResult``."""
    cfg = result.config
    options = dict(
        confidence=cfg.get("confidence", 0.95), resamples=cfg.get("bootstrap_resamples", 1000), seed=cfg.get("seed", 0)
    )
    if metric == "pairwise_win_rate":
        pairwise = result.pairwise
        if pairwise is None or {pairwise.candidate, pairwise.baseline} != {candidate, baseline}:
            return PairedComparison(difference=None)
        scores = [v.score for v in pairwise.items.values()]
        if pairwise.candidate != candidate:
            scores = [None if s is None else 1 - s for s in scores]
        return one_sample_bootstrap(scores, 0.5, True, **options)
    if metric == "perplexity":
        metric = "loss"
    by_item: dict[str, dict[str, float | None]] = {}
    for item in result.items:
        if item.model in (baseline, candidate):
            by_item.setdefault(item.sample_id, {})[item.model] = item.metrics.get(metric)
    pairs = [(v.get(baseline), v.get(candidate)) for v in by_item.values()]
    return paired_bootstrap([a for a, _ in pairs], [b for _, b in pairs], METRICS.get(metric, True), **options)


def _family_verdict(verdicts: list[str]) -> str:
    better, worse = "better" in verdicts, "worse" in verdicts
    if better and worse:
        return "mixed"
    return "better" if better else "worse" if worse else "no significant difference"


def compare_models(result, baseline: str, candidate: str) -> Comparison | None:
    """Every metric both models have, and the verdict of each family; ``None`` when one is missing."""
    labels = [m.label for m in result.models]
    if baseline not in labels or candidate not in labels or baseline == candidate:
        return None
    metrics: dict[str, PairedComparison] = {}
    families = []
    for family, names in FAMILIES.items():
        verdicts = []
        for name in names:
            comparison = compare_metric(result, baseline, candidate, name)
            if comparison.difference is None:
                continue
            metrics[name] = comparison
            verdicts.append(comparison.verdict)
        if verdicts:
            families.append(FamilyVerdict(family=family, verdict=_family_verdict(verdicts), metrics=list(names)))
    return Comparison(baseline=baseline, candidate=candidate, metrics=metrics, families=families)
