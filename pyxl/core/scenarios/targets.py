"""Annual targets to per-period targets (seed 002, step 2) and back.

``P`` is the number of periods per year (12 monthly, 52 weekly, 252 daily).

``arithmetic`` (the seed's default)
    mu* = mu_ann / P,  Sigma* = Sigma_ann / P.
``geometric``
    mu* = (1 + mu_ann)^(1/P) - 1 (the per-period simple return that compounds
    to mu_ann, the same conversion the seed uses for the RT portfolios in step
    4),  Sigma* = Sigma_ann / P.
``log``
    mu* = log(1 + mu_ann) / P (the seed's "GBM refinement", a continuously
    compounded rate),  Sigma* = Sigma_ann / P.
``lognormal`` (exact moment matching)
    mu* and Sigma* such that P independent periods with that mean and
    covariance compound to exactly mu_ann and Sigma_ann:
    (1 + mu*_i)^P = 1 + mu_ann_i and
    ((1 + mu*_i)(1 + mu*_j) + Sigma*_ij)^P - (1 + mu_ann_i)(1 + mu_ann_j) = Sigma_ann_ij,
    i.e. Sigma*_ij = ((1 + mu_ann_i)(1 + mu_ann_j) + Sigma_ann_ij)^(1/P) - (1 + mu*_i)(1 + mu*_j).
    This is the lognormal moment match (log-returns N(a, B) with
    P B_ij = log(1 + Sigma_ij / ((1 + mu_i)(1 + mu_j)))) and in fact holds
    for any i.i.d. per-period distribution with those two moments.
"""

from __future__ import annotations

import numpy as np

from pyxl.errors import InputError

__all__ = ["TARGET_METHODS", "to_period", "to_annual", "rt_period_targets"]

TARGET_METHODS = ("arithmetic", "geometric", "log", "lognormal")


def to_period(
    mu_ann: np.ndarray, cov_ann: np.ndarray, periods: int, method: str = "arithmetic"
) -> tuple[np.ndarray, np.ndarray]:
    """Per-period target mean (N,) and covariance (N, N) from annual ones."""
    mu = np.asarray(mu_ann, dtype=float)
    S = np.asarray(cov_ann, dtype=float)
    P = float(periods)
    if method not in TARGET_METHODS:
        raise InputError("target", f"{method!r} is not one of {', '.join(TARGET_METHODS)}",
                         "pick one")
    if method != "arithmetic" and np.any(mu <= -1.0):
        raise InputError("mu_ann", "has a return <= -100 %", "enter returns above -1")
    if method == "arithmetic":
        return mu / P, S / P
    if method == "geometric":
        return (1.0 + mu) ** (1.0 / P) - 1.0, S / P
    if method == "log":
        return np.log1p(mu) / P, S / P
    g = 1.0 + mu
    gg = np.outer(g, g) + S
    if np.any(gg <= 0.0):
        raise InputError("cov_ann", "too negative a covariance for lognormal matching",
                         "use target 'arithmetic' or check cov_ann")
    m = g ** (1.0 / P) - 1.0
    Sp = gg ** (1.0 / P) - np.outer(1.0 + m, 1.0 + m)
    Sp = 0.5 * (Sp + Sp.T)
    return m, Sp


def to_annual(
    mu_p: np.ndarray, cov_p: np.ndarray, periods: int, method: str = "arithmetic"
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`to_period` (used to annualise realised moments)."""
    mu = np.asarray(mu_p, dtype=float)
    S = np.asarray(cov_p, dtype=float)
    P = float(periods)
    if method == "arithmetic":
        return mu * P, S * P
    if method == "geometric":
        return (1.0 + mu) ** P - 1.0, S * P
    if method == "log":
        return np.expm1(mu * P), S * P
    g = 1.0 + mu
    gg = np.outer(g, g) + S
    return g**P - 1.0, np.sign(gg) * np.abs(gg) ** P - np.outer(g**P, g**P)


def rt_period_targets(W: np.ndarray, mu_ann: np.ndarray, periods: int) -> np.ndarray:
    """r*_k = (1 + w_k^T mu_ann)^(1/P) - 1: the seed's geometric RT targets (step 4.2)."""
    m = W @ np.asarray(mu_ann, dtype=float)
    if np.any(m <= -1.0):
        raise InputError("rt_weights", "a portfolio's target return is <= -100 %",
                         "check rt_weights and mu_ann")
    return (1.0 + m) ** (1.0 / float(periods)) - 1.0
