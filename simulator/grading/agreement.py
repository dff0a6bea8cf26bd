"""Agreement between predicted and human scores."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def agreement(human: Sequence[float], predicted: Sequence[float], max_score: float) -> dict[str, float]:
    """Pearson, Spearman, RMSE, MAE and quadratic weighted kappa (on the human scale)."""
    h = np.asarray(human, dtype=float)
    p = np.asarray(predicted, dtype=float)
    constant = len(h) < 2 or np.ptp(h) == 0 or np.ptp(p) == 0
    return {
        "n": len(h),
        "pearson": math.nan if constant else round(float(stats.pearsonr(h, p).statistic), 4),
        "spearman": math.nan if constant else round(float(stats.spearmanr(h, p).statistic), 4),
        "rmse": round(float(np.sqrt(np.mean((h - p) ** 2))), 4) if len(h) else math.nan,
        "mae": round(float(np.mean(np.abs(h - p))), 4) if len(h) else math.nan,
        "qwk": round(quadratic_weighted_kappa(h, p, max_score), 4) if len(h) else math.nan,
    }


def quadratic_weighted_kappa(human: np.ndarray, predicted: np.ndarray, max_score: float) -> float:
    """QWK over integer bands 0..max_score (scores rounded to the nearest band)."""
    bands = round(max_score) + 1
    a = np.clip(np.rint(human), 0, bands - 1).astype(int)
    b = np.clip(np.rint(predicted), 0, bands - 1).astype(int)
    observed = np.zeros((bands, bands))
    np.add.at(observed, (a, b), 1)
    expected = np.outer(np.bincount(a, minlength=bands), np.bincount(b, minlength=bands)) / len(a)
    grid = np.arange(bands)
    weights = (grid[:, None] - grid[None, :]) ** 2 / max((bands - 1) ** 2, 1)
    denominator = (weights * expected).sum()
    return 1.0 if denominator == 0 else float(1 - (weights * observed).sum() / denominator)
