"""Uncertainty, comparison and agreement: bootstrap confidence intervals, paired bootstrap tests of
a difference between two models on the same items, and rater agreement.

Intervals come from ``scipy.stats.bootstrap`` (percentile method, fixed seed); agreement from
``sklearn.metrics.cohen_kappa_score``. Missing values (``None``/NaN) are dropped and counted,
never averaged in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel


class Estimate(BaseModel):
    """A point estimate with its bootstrap interval; ``n`` values used, ``missing`` dropped."""

    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0
    missing: int = 0

    def as_text(self, digits: int = 3) -> str:
        if self.value is None:
            return "n/a"
        if self.low is None or self.high is None:
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def _clean(values: Sequence[float | None]) -> tuple[np.ndarray, int]:
    kept = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return np.asarray(kept, dtype=np.float64), len(values) - len(kept)


def bootstrap_mean(
    values: Sequence[float | None], confidence: float = 0.95, resamples: int = 1000, seed: int = 0
) -> Estimate:
    """Mean of the present values with a percentile bootstrap interval."""
    data, missing = _clean(values)
    if data.size == 0:
        return Estimate(value=None, n=0, missing=missing)
    point = float(data.mean())
    if data.size < 2 or np.ptp(data) == 0:
        return Estimate(value=point, low=point, high=point, n=int(data.size), missing=missing)
    from scipy.stats import bootstrap

    result = bootstrap(
        (data,),
        np.mean,
        confidence_level=confidence,
        n_resamples=resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
        vectorized=True,
    )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return Estimate(value=point, low=low, high=high, n=int(data.size), missing=missing)


def bootstrap_ratio(
    numerators: Sequence[float],
    denominators: Sequence[float],
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> Estimate:
    """sum(numerators) / sum(denominators) with a paired bootstrap over items.

    Used for token-weighted mean loss: numerator = summed token losses of an item, denominator =
    its token count.
    """
    num = np.asarray(numerators, dtype=np.float64)
    den = np.asarray(denominators, dtype=np.float64)
    if num.size == 0 or den.sum() <= 0:
        return Estimate(value=None, n=0)
    point = float(num.sum() / den.sum())
    if num.size < 2:
        return Estimate(value=point, low=point, high=point, n=int(num.size))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num.size, size=(resamples, num.size))
    ratios = num[idx].sum(axis=1) / np.maximum(den[idx].sum(axis=1), 1e-12)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return Estimate(value=point, low=float(low), high=float(high), n=int(num.size))


class Agreement(BaseModel):
    """Agreement between two raters on the items both rated."""

    n: int
    percent_agreement: float | None
    cohen_kappa: float | None
    weighted_kappa: float | None = None


def agreement(a: Sequence[int | str | None], b: Sequence[int | str | None], ordinal: bool = True) -> Agreement:
    """Percent agreement and Cohen's kappa (and, for ordinal scores, linear-weighted kappa)."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    if not pairs:
        return Agreement(n=0, percent_agreement=None, cohen_kappa=None)
    xs, ys = [str(p[0]) for p in pairs], [str(p[1]) for p in pairs]
    percent = sum(x == y for x, y in zip(xs, ys, strict=True)) / len(pairs)
    from sklearn.metrics import cohen_kappa_score

    labels = sorted(set(xs) | set(ys))
    if len(labels) < 2:  # both raters always gave the same single label: kappa is undefined
        return Agreement(n=len(pairs), percent_agreement=percent, cohen_kappa=None)
    kappa = float(cohen_kappa_score(xs, ys, labels=labels))
    weighted = None
    if ordinal:
        try:
            xi, yi = [int(p[0]) for p in pairs], [int(p[1]) for p in pairs]
            weighted = float(cohen_kappa_score(xi, yi, weights="linear"))
        except ValueError:
            weighted = None
    return Agreement(n=len(pairs), percent_agreement=percent, cohen_kappa=kappa, weighted_kappa=weighted)


class PairedComparison(BaseModel):
    """Candidate minus baseline on the items both have, with a paired bootstrap interval.

    ``significant`` when the interval excludes 0; ``verdict`` reads the sign with the metric's
    direction: ``better``, ``worse`` or ``no significant difference`` (``n/a`` without items)."""

    difference: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0
    significant: bool = False
    verdict: str = "n/a"

    def as_text(self, digits: int = 3) -> str:
        if self.difference is None:
            return "n/a"
        return f"{self.difference:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"


def _verdict(point: float, low: float, high: float, higher_is_better: bool, n: int) -> PairedComparison:
    significant = low > 0 or high < 0
    verdict = "no significant difference"
    if significant:
        verdict = "better" if (point > 0) == higher_is_better else "worse"
    return PairedComparison(difference=point, low=low, high=high, n=n, significant=significant, verdict=verdict)


def paired_bootstrap(
    baseline: Sequence[float | None],
    candidate: Sequence[float | None],
    higher_is_better: bool = True,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> PairedComparison:
    """Mean of per-item differences (candidate − baseline) over items where both are present,
    with a percentile bootstrap interval that resamples items (so both models move together)."""
    pairs = [
        (float(a), float(b))
        for a, b in zip(baseline, candidate, strict=True)
        if a is not None and b is not None and not (math.isnan(float(a)) or math.isnan(float(b)))
    ]
    if not pairs:
        return PairedComparison(difference=None)
    diffs = np.asarray([b - a for a, b in pairs], dtype=np.float64)
    point = float(diffs.mean())
    if diffs.size < 2 or np.ptp(diffs) == 0 and point == 0:
        return _verdict(point, point, point, higher_is_better, int(diffs.size))
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, diffs.size, size=(resamples, diffs.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return _verdict(point, float(low), float(high), higher_is_better, int(diffs.size))


def one_sample_bootstrap(
    values: Sequence[float | None],
    null: float,
    higher_is_better: bool = True,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> PairedComparison:
    """Mean of ``values`` minus ``null`` (e.g. a pairwise win rate against 0.5), bootstrapped."""
    present = [v for v in values if v is not None]
    return paired_bootstrap([null] * len(present), present, higher_is_better, confidence, resamples, seed)
