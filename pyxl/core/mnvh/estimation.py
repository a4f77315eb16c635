"""Estimation for MNVH (seed 000, sec. 5, 8, 10): rho, the eq. 4 edge, throttle, hedge betas.

Timing convention (no look-ahead)
---------------------------------
Prices are rows ``p_0 .. p_{T-1}``.  At row ``t`` one knows ``p_0 .. p_t``,
hence the *visible* returns ``x_s = p_s / p_{s-1} - 1`` for ``s <= t`` (the
seed's ``r_{s-1}``, which it indexes by the start of the period).  Every
array returned here has length ``T`` and its row ``t`` uses rows ``<= t`` of
the inputs only; warm-up rows (not enough data yet) are NaN unless a
documented fill value is given.  Weights may be ``(N,)`` or ``(T, N)`` with
row ``t`` known at ``t``; the portfolio return of period ``(t-1, t]`` uses the
weights known when the period starts, ``R_t = w_{t-1} . x_t``.

Sign of rho
-----------
Eq. 4's model is ``(r_{t+1} - R_{t+1}) = -rho (r_t - R_t) + eps``.  We regress
the deviation ``d_s = x_s - R_s`` on ``d_{s-1}`` (pooled over assets and the
window, through the origin because cross-sectional deviations are centred by
construction) and report ``rho = -slope``, clipped to ``[0, 1]``: ``rho > 0``
means mean reversion (a laggard tends to catch up), ``rho = 0`` means no
reversion or momentum.  The unclipped value is available with ``clip=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from pyxl.core.mnvh.weights import _check_prices, visible_returns
from pyxl.errors import InputError

__all__ = [
    "deviations",
    "rolling_rho",
    "mean_rho",
    "xs_variance",
    "EdgeDiagnostic",
    "expected_edge",
    "regime_throttle",
    "rolling_betas",
]


def _weights_rows(weights: np.ndarray | None, T: int, N: int) -> np.ndarray:
    """Weights as (T, N); row t known at t.  None means equal weights."""
    if weights is None:
        return np.full((T, N), 1.0 / N)
    w = np.asarray(weights, dtype=float)
    if w.ndim == 1:
        if w.size != N:
            raise InputError("weights", f"has {w.size} values, expected {N}", "one per asset")
        return np.broadcast_to(w, (T, N))
    if w.shape != (T, N):
        raise InputError("weights", f"is {w.shape}, expected ({T}, {N})", "match the prices")
    return w


def _window(window: int, min_periods: int | None) -> int:
    if window < 2:
        raise InputError("window", f"must be >= 2, got {window}", "use a longer window")
    mp = window if min_periods is None else int(min_periods)
    if not 1 <= mp <= window:
        raise InputError("min_periods", f"must be in [1, {window}], got {mp}", "change it")
    return mp


def _rolling_sum(v: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Trailing sum over the last ``window`` rows ending at each row, NaN-aware.

    Rows with fewer than ``min_periods`` finite values give NaN.  Row ``t``
    uses rows ``t-window+1 .. t`` only.  Returns ``(sums, counts)``.
    """
    T = v.shape[0]
    finite = np.isfinite(v)
    vz = np.where(finite, v, 0.0)
    pad = np.concatenate([np.zeros((window - 1, *v.shape[1:])), vz])
    cnt = np.concatenate([np.zeros((window - 1, *v.shape[1:])), finite.astype(float)])
    s = sliding_window_view(pad, window, axis=0).sum(axis=-1)[:T]
    n = sliding_window_view(cnt, window, axis=0).sum(axis=-1)[:T]
    return np.where(n >= min_periods, s, np.nan), n


def deviations(prices: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Cross-sectional deviations ``d_t = x_t - R_t`` with ``R_t = w_{t-1} . x_t``.

    Returns
    -------
    (T, N) array
        Row 0 is NaN (no return yet).  ``d_t`` is the seed's ``r_{t-1} - R_{t-1}``.
    """
    x = visible_returns(prices)
    T, N = x.shape
    w = _weights_rows(weights, T, N)
    d = np.full_like(x, np.nan)
    R = np.einsum("ij,ij->i", w[:-1], x[1:])
    d[1:] = x[1:] - R[:, None]
    return d


def rolling_rho(
    prices: np.ndarray,
    weights: np.ndarray | None = None,
    window: int = 252,
    min_periods: int | None = 60,
    clip: bool = True,
) -> np.ndarray:
    """Rolling pooled mean-reversion coefficient rho (seed sec. 8), known at each row.

    ``rho_t = - sum_{s} d_{s-1} . d_s / sum_{s} |d_{s-1}|^2`` over the last
    ``window`` pairs ``s = t-window+1 .. t`` (pairs need ``s >= 2``), i.e. the
    pooled OLS slope through the origin of ``d_s`` on ``d_{s-1}``, negated.

    Parameters
    ----------
    prices : (T, N) array
    weights : (N,) or (T, N) array, optional
        Defines ``R``; equal weights when omitted.
    window : int
        Number of (d_{s-1}, d_s) pairs per estimate.
    min_periods : int, optional
        Pairs needed before the first estimate (default ``window``).
    clip : bool
        Clip to ``[0, 1]`` (seed sec. 8).  ``False`` returns the raw estimate.

    Returns
    -------
    (T,) array
        NaN during warm-up.
    """
    mp = _window(window, min_periods)
    d = deviations(prices, weights)
    T = d.shape[0]
    num = np.full(T, np.nan)
    den = np.full(T, np.nan)
    if T > 2:
        num[2:] = np.einsum("ij,ij->i", d[1:-1], d[2:])
        den[2:] = np.einsum("ij,ij->i", d[1:-1], d[1:-1])
    snum, _ = _rolling_sum(num, window, mp)
    sden, _ = _rolling_sum(den, window, mp)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(sden > 0, -snum / sden, np.nan)
    if clip:
        rho = np.clip(rho, 0.0, 1.0)
    return rho


def mean_rho(prices: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean over the run of the clipped rolling rho: the "Mean rho (rolling, clipped)"
    row of the backtest tables (``=MNVH_BACKTEST`` and ``metrics.csv``).

    :func:`rolling_rho` over ``min(252, T - 2)`` pairs once ``min(60, T - 2)`` are in
    (at least 2), averaged over the rows with an estimate; NaN when none has one.
    Dimensionless, in [0, 1].
    """
    T = np.asarray(prices).shape[0]
    rho = rolling_rho(prices, weights, window=min(252, max(2, T - 2)),
                      min_periods=min(60, max(2, T - 2)))
    return float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan")


def xs_variance(prices: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Cross-sectional variance ``XS-Var_t = sum_i w_i (x_{i,t} - R_t)^2`` (eq. 4), per row.

    Uses ``w_{t-1}`` as ``R_t`` does.  With negative weights it can be
    negative (it is a weighted sum, not a variance, then).  Row 0 is NaN.
    """
    d = deviations(prices, weights)
    T, N = d.shape
    w = _weights_rows(weights, T, N)
    out = np.full(T, np.nan)
    out[1:] = np.einsum("ij,ij->i", w[:-1], d[1:] ** 2)
    return out


@dataclass(frozen=True)
class EdgeDiagnostic:
    """Eq. 4 expected edge of the next step's signal trade, per row (all length T).

    Attributes
    ----------
    rho : clipped rolling rho.
    xs_var : rolling mean of XS-Var (the estimate of E[XS-Var]).
    gross : ``beta_eff * rho * E[XS-Var]`` in currency per period.
    cost : ``cost_rate * beta_eff * E[sum_i |w_i| |x_i - R|]``, the proportional
        cost of the signal trade ``beta_eff * w_i * (R - r_i)`` (inventory
        decay trades excluded).
    net : ``gross - cost``; > 0 is the seed's sufficient condition.
    """

    rho: np.ndarray
    xs_var: np.ndarray
    gross: np.ndarray
    cost: np.ndarray
    net: np.ndarray


def expected_edge(
    prices: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    beta: float,
    nav: float | np.ndarray = 1.0,
    beta_mode: str = "nav",
    cost_rate: float = 0.0,
    window: int = 252,
    min_periods: int | None = 60,
    rho: np.ndarray | None = None,
) -> EdgeDiagnostic:
    """Eq. 4 diagnostic: ``E[dV_trade] ~ beta V_t rho E[XS-Var_t] - E[cost]``.

    Derivation (checks the sign): the signal trade has notional
    ``beta_eff w_i (R_t - r_{i,t})`` and earns ``r_{i,t+1}`` next step; since
    ``sum_i w_i (R_t - r_{i,t}) = 0`` the common part ``R_{t+1}`` cancels, and
    under ``d_{t+1} = -rho d_t + eps`` the expectation is
    ``beta_eff rho sum_i w_i d_{i,t}^2``.

    Parameters
    ----------
    beta : float
        Trading intensity.  ``beta_mode="nav"``: ``beta_eff = beta * nav_t``
        (eq. 4); ``"absolute"``: ``beta_eff = beta`` (eq. 1, currency units).
    nav : float or (T,) array
        NAV known at each row (only used in ``nav`` mode).
    cost_rate : float
        Proportional cost per unit notional traded (fee rate + half spread).
    window, min_periods : int
        Rolling window for rho (when not given) and for ``E[XS-Var]``.
    rho : (T,) array, optional
        A precomputed rho (clipped); else :func:`rolling_rho`.
    """
    if beta_mode not in ("nav", "absolute"):
        raise InputError("beta_mode", f"{beta_mode!r} is not nav or absolute", "pick one")
    if cost_rate < 0:
        raise InputError("cost_rate", f"must be >= 0, got {cost_rate}", "enter a cost rate")
    mp = _window(window, min_periods)
    d = deviations(prices, weights)
    T, N = d.shape
    w = _weights_rows(weights, T, N)
    if rho is None:
        rho = rolling_rho(prices, weights, window, mp)
    rho = np.asarray(rho, dtype=float)
    xv = xs_variance(prices, weights)
    sxv, n = _rolling_sum(xv, window, mp)
    exs = sxv / np.maximum(n, 1)
    absdev = np.full(T, np.nan)
    absdev[1:] = np.einsum("ij,ij->i", np.abs(w[:-1]), np.abs(d[1:]))
    sad, n2 = _rolling_sum(absdev, window, mp)
    ead = sad / np.maximum(n2, 1)
    beff = beta * np.broadcast_to(np.asarray(nav, dtype=float), (T,)) if beta_mode == "nav" \
        else np.full(T, float(beta))
    gross = beff * rho * exs
    cost = cost_rate * np.abs(beff) * ead
    return EdgeDiagnostic(rho=rho, xs_var=exs, gross=gross, cost=cost, net=gross - cost)


def regime_throttle(
    rho: np.ndarray,
    rho_min: float = 0.0,
    rho_full: float = 0.05,
    floor: float = 0.0,
    warmup_scale: float = 0.0,
) -> np.ndarray:
    """Beta scale in [floor, 1] that throttles trading when mean reversion is weak (sec. 10).

    ``scale_t = floor + (1 - floor) * clip((rho_t - rho_min) / (rho_full - rho_min), 0, 1)``:
    no trading intensity (beyond ``floor``) at ``rho <= rho_min``, full
    intensity at ``rho >= rho_full``, linear in between.  When trends
    dominate the cross-section, deviations persist, rho falls and beta is
    scaled down.  Rows where rho is NaN (warm-up) get ``warmup_scale``
    (default 0: do not trade before there is evidence of reversion).

    Returns
    -------
    (T,) array, known at each row (it is a function of rho_t only).
    """
    if not rho_full > rho_min:
        raise InputError("rho_full", f"must be > rho_min={rho_min}", "raise rho_full")
    if not 0.0 <= floor <= 1.0:
        raise InputError("floor", f"must be in [0, 1], got {floor}", "change it")
    if not 0.0 <= warmup_scale <= 1.0:
        raise InputError("warmup_scale", f"must be in [0, 1], got {warmup_scale}", "change it")
    r = np.asarray(rho, dtype=float)
    with np.errstate(invalid="ignore"):
        z = np.clip((r - rho_min) / (rho_full - rho_min), 0.0, 1.0)
    scale = floor + (1.0 - floor) * z
    return np.where(np.isfinite(r), scale, warmup_scale)


def rolling_betas(
    prices: np.ndarray,
    benchmark: np.ndarray,
    window: int = 126,
    min_periods: int | None = 40,
    warmup_value: float = 1.0,
) -> np.ndarray:
    """Rolling OLS betas of each asset on the benchmark, known at each row.

    ``beta_{i,t} = cov(x_i, x_b) / var(x_b)`` over the last ``window``
    visible returns (sample moments, same divisor).  Rows with fewer than
    ``min_periods`` returns, or a flat benchmark, get ``warmup_value``
    (default 1: the cross-sectional prior of a stock's market beta) so a
    hedge can run from the first row.

    Parameters
    ----------
    prices : (T, N) array or DataFrame
    benchmark : (T,) array or Series
        Benchmark (hedge asset) prices on the same rows, finite and > 0.  A Series
        labelled by date meets a price DataFrame's dates by label.

    Returns
    -------
    (T, N) array
    """
    from pyxl.core.labels import align_to_prices

    benchmark = align_to_prices(benchmark, prices, "benchmark", assets=False, dates=True)
    mp = _window(window, min_periods)
    if mp < 2:
        raise InputError("min_periods", "must be >= 2 for a beta", "raise it")
    x = visible_returns(prices)
    b = np.asarray(benchmark, dtype=float).ravel()
    if b.size != x.shape[0]:
        raise InputError("benchmark", f"has {b.size} rows, expected {x.shape[0]}",
                         "align it with the prices")
    # validated under its own name: a bad benchmark price is not a bad asset price
    xb = visible_returns(_check_prices(b[:, None], "benchmark"))[:, 0]
    T, N = x.shape
    sb, n = _rolling_sum(xb, window, 1)
    sbb, _ = _rolling_sum(xb * xb, window, 1)
    sx, _ = _rolling_sum(x, window, 1)
    sxb, _ = _rolling_sum(x * xb[:, None], window, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mb = sb / n
        var_b = sbb / n - mb * mb
        cov = sxb / n[:, None] - (sx / n[:, None]) * mb[:, None]
        beta = cov / var_b[:, None]
    # window sums are formed per window (no running cumsum), so the moment
    # form loses no precision to drift; a flat benchmark gives var_b ~ 0
    ok = (n >= mp) & (var_b > 1e-14 * np.maximum(sbb / np.maximum(n, 1), 1e-300))
    out = np.full((T, N), float(warmup_value))
    out[ok] = beta[ok]
    return out
