"""Per-path portfolio measures and summary statistics (seed 002 diagnostics).

Everything here works on one chunk of paths at a time so that the engine can
stream; the pooled moments are accumulated per fixed block of paths.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PERCENTILES", "portfolio_paths", "max_drawdown", "pooled_moments_block",
           "corr_from_cov"]

#: Percentiles reported for terminal wealth, drawdowns and fan charts.
PERCENTILES = (5.0, 25.0, 50.0, 75.0, 95.0)


def portfolio_paths(paths: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Wealth of each constant-weight (rebalanced every period) portfolio.

    Parameters
    ----------
    paths : (P, H, N) per-period simple returns.
    W : (K, N) portfolio weights.

    Returns
    -------
    (P, H, K) wealth after each period, starting from 1.
    """
    r = paths @ W.T
    return np.cumprod(1.0 + r, axis=1)


def max_drawdown(wealth: np.ndarray) -> np.ndarray:
    """Maximum drawdown 1 - W_t / max_{s<=t} W_s (start value 1 included), shape (P, K)."""
    peak = np.maximum.accumulate(np.maximum(wealth, 1.0), axis=1)
    return (1.0 - wealth / peak).max(axis=1)


def pooled_moments_block(paths: np.ndarray, centre: np.ndarray) -> tuple[int, np.ndarray,
                                                                         np.ndarray]:
    """Row count, sum of (x - c) and sum of (x - c)(x - c)^T over every row of a block."""
    X = paths.reshape(-1, paths.shape[-1]) - centre
    return X.shape[0], X.sum(axis=0), X.T @ X


def corr_from_cov(S: np.ndarray) -> np.ndarray:
    """Correlation matrix of a covariance matrix (zero variance gives NaN rows)."""
    sd = np.sqrt(np.clip(np.diag(S), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        return S / np.outer(sd, sd)
