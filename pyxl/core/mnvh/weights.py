"""Target notional weights ``w`` for MNVH (seed 000, sec. 8), with no look-ahead.

Every scheme returns a ``(T, N)`` array whose row ``t`` sums to 1 and is
computed from prices ``p_0 .. p_t`` only (the row is *known at t*).  The
returns visible at ``t`` are ``x_s = p_s / p_{s-1} - 1`` for ``s = 1 .. t``;
an estimation window of ``window`` periods at ``t`` uses ``x_{t-window+1} ..
x_t``.  Until ``min_periods`` returns are available a row falls back to equal
weights (documented warm-up rule).

Schemes
-------
``equal``
    ``w_i = 1/N``.
``invvol``
    ``w_i ∝ 1/sigma_i`` with ``sigma_i`` the rolling sample standard deviation
    (ddof=1) of simple returns; positive weights.
``markowitz``
    "Light" Markowitz on the Ledoit-Wolf (2004) shrinkage covariance (shrunk
    towards ``mu * I``, ``mu`` = average variance; the same estimator as
    ``sklearn.covariance.ledoit_wolf``), with only the budget constraint
    ``sum w = 1``, so negative weights are allowed.  Default objective
    ``minvar``: ``w = S^-1 1 / (1' S^-1 1)``.  ``meanvar`` maximises
    ``w' m - gamma/2 w' S w`` s.t. ``1'w = 1`` with ``m`` the rolling mean
    return: ``w = w_minvar + (1/gamma) S^-1 (m - (1'S^-1 m / 1'S^-1 1) 1)``.
    Minimum variance is the default because rolling mean estimates are mostly
    noise and MNVH needs ``w`` only as a risk-balanced notional template.  A
    window whose shrunk covariance is singular (shrinkage 0 with a
    rank-deficient sample covariance, e.g. exactly two returns) gives equal
    weights, as a warm-up row does.
``user``
    Given weights, ``(N,)`` broadcast over time or ``(T, N)``; each row must
    sum to 1 (or pass ``normalize=True``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from pyxl.errors import InputError

__all__ = [
    "SCHEMES",
    "equal_weights",
    "inverse_vol_weights",
    "ledoit_wolf",
    "markowitz_weights",
    "user_weights",
    "check_sums",
    "make_weights",
    "visible_returns",
]

#: Weights must sum to 1 within this (seed sec. 2; :func:`check_sums`).
WEIGHT_SUM_TOL = 1e-6
#: Names accepted by :func:`make_weights`.
SCHEMES = ("equal", "invvol", "markowitz")


def _check_prices(prices: np.ndarray, name: str = "prices") -> np.ndarray:
    """``prices`` as a checked row-major float array (numpy's sums round in memory order,
    so every layout must give the bits the formula's row-major cells give)."""
    p = np.ascontiguousarray(prices, dtype=float)
    if p.ndim != 2:
        raise InputError(name, f"has {p.ndim} dimensions, expected T x N", "pass a 2-D table")
    if p.shape[0] < 1 or p.shape[1] < 1:
        raise InputError(name, f"is {p.shape[0]}x{p.shape[1]}", "pass at least one row and asset")
    if not np.all(np.isfinite(p)):
        raise InputError(name, "contains NaN or infinite values", "fill or drop them")
    if np.any(p <= 0):
        raise InputError(name, "contains a price <= 0", "prices must be strictly positive")
    return p


def visible_returns(prices: np.ndarray) -> np.ndarray:
    """Simple returns ``x_t = p_t / p_{t-1} - 1`` known at ``t`` (row 0 is NaN).

    Parameters
    ----------
    prices : (T, N) array
        Strictly positive prices.

    Returns
    -------
    (T, N) array
        Row ``t`` holds the return realised *at* ``t``; it is the seed's
        ``r_{t-1}`` (the seed indexes a return by the start of its period).
    """
    p = _check_prices(prices)
    x = np.full_like(p, np.nan)
    x[1:] = p[1:] / p[:-1] - 1.0
    return x


def _window_args(window: int, min_periods: int | None) -> int:
    if window < 2:
        raise InputError("window", f"must be >= 2, got {window}", "use a longer window")
    mp = window if min_periods is None else int(min_periods)
    if mp < 2 or mp > window:
        raise InputError(
            "min_periods", f"must be in [2, window={window}], got {mp}", "change it"
        )
    return mp


def _rebalance_rows(T: int, rebalance_every: int) -> np.ndarray:
    if rebalance_every < 1:
        raise InputError("rebalance_every", f"must be >= 1, got {rebalance_every}", "use 1 or more")
    return np.arange(0, T, rebalance_every)


def _hold(rows: np.ndarray, values: np.ndarray, T: int) -> np.ndarray:
    """Rows computed at rebalance dates, held until the next rebalance."""
    idx = np.searchsorted(rows, np.arange(T), side="right") - 1
    return values[idx]


def _rolling_weights(x: np.ndarray, window: int, min_periods: int | None,
                     rebalance_every: int,
                     estimate: Callable[[np.ndarray], np.ndarray | None]) -> np.ndarray:
    """Weights re-estimated on a rolling window at each rebalance row and held between.

    Row ``t`` uses the visible returns ``x[lo..t]``, ``lo = max(1, t - window + 1)``
    (row 0 has none); with fewer than ``min_periods`` of them, or when ``estimate``
    returns None, the row is equal weights.  Shared by every rolling scheme so the
    window, warm-up and hold rules are one piece of code.
    """
    T, N = x.shape
    mp = _window_args(window, min_periods)
    rows = _rebalance_rows(T, rebalance_every)
    out = np.full((rows.size, N), 1.0 / N)
    for k, t in enumerate(rows):
        lo = max(1, t - window + 1)
        if t - lo + 1 < mp:
            continue
        w = estimate(x[lo : t + 1])
        if w is not None:
            out[k] = w
    return _hold(rows, out, T)


def equal_weights(T: int, N: int) -> np.ndarray:
    """``(T, N)`` array of ``1/N``."""
    if T < 1 or N < 1:
        raise InputError("prices", f"is {T}x{N}", "pass at least one row and asset")
    return np.full((T, N), 1.0 / N)


def inverse_vol_weights(
    prices: np.ndarray,
    window: int = 60,
    min_periods: int | None = None,
    rebalance_every: int = 1,
) -> np.ndarray:
    """Inverse-volatility weights ``w_{i,t} ∝ 1/sigma_{i,t}``, no look-ahead.

    Parameters
    ----------
    prices : (T, N) array
        Strictly positive prices.
    window : int
        Number of most recent visible returns in the volatility estimate.
    min_periods : int, optional
        Returns needed before the estimate is used (default ``window``);
        earlier rows are equal weights.
    rebalance_every : int
        Recompute every this many rows (row 0, k, 2k, ...) and hold between.

    Returns
    -------
    (T, N) array
        Rows sum to 1.  An asset with zero estimated volatility (a flat
        price) gets the weight of the smallest positive volatility instead of
        an infinite one.
    """
    return _rolling_weights(visible_returns(prices), window, min_periods, rebalance_every,
                            _inverse_vol_row)


def _inverse_vol_row(xs: np.ndarray) -> np.ndarray | None:
    """``1/sigma`` normalised over one window of returns; None when every asset is flat."""
    sig = xs.std(axis=0, ddof=1)
    pos = sig > 0
    if not pos.any():
        return None
    sig = np.where(pos, sig, sig[pos].min())
    inv = 1.0 / sig
    return inv / inv.sum()


def ledoit_wolf(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf (2004) shrinkage covariance towards ``mu * I``.

    Parameters
    ----------
    x : (n, N) array
        Observations (rows) of N variables; demeaned internally.

    Returns
    -------
    cov : (N, N) array
        ``(1 - s) S + s mu I`` with ``S`` the maximum-likelihood covariance
        (divisor ``n``) and ``mu = tr(S)/N``.
    shrinkage : float
        ``s = min(b2, d2) / d2`` in [0, 1] (Ledoit and Wolf 2004, lemma 3.1;
        identical to ``sklearn.covariance.ledoit_wolf``).
    """
    x = np.asarray(x, dtype=float)
    n, p = x.shape
    xc = x - x.mean(axis=0)
    s = xc.T @ xc / n
    mu = np.trace(s) / p
    if n == 1 or mu == 0.0:
        return s + 0.0, 0.0
    d2 = np.sum((s - mu * np.eye(p)) ** 2) / p
    x2 = xc**2
    b2 = (np.sum(x2.T @ x2) / n - np.sum(s**2)) / (n * p)
    b2 = min(max(b2, 0.0), d2)  # b2 >= 0 in exact arithmetic; rounding can dip below
    shrink = 0.0 if d2 == 0.0 else b2 / d2
    return (1.0 - shrink) * s + shrink * mu * np.eye(p), float(shrink)


def _singular(cov: np.ndarray, shrink: float) -> bool:
    """True when the shrunk covariance has no usable inverse (minimum variance undefined).

    Its smallest eigenvalue is at least ``shrink * mu`` and its largest at most
    ``N * mu``, so a shrinkage above 1e-8 leaves a condition number below
    ``1e8 N``.  The shrinkage is 0 (Ledoit-Wolf's ``b2`` vanishes) when every
    demeaned observation is +-the same vector, for instance with exactly two
    returns in the window; the sample covariance then has rank 1 and
    ``S^-1 1`` does not exist (a least-squares answer would be the single
    direction that *has* variance, the opposite of minimum variance).
    """
    if shrink > 1e-8:
        return False
    ev = np.linalg.eigvalsh(cov)
    return bool(ev[0] <= cov.shape[0] * np.finfo(float).eps * ev[-1])


def _budget_solution(cov: np.ndarray, mean: np.ndarray | None, gamma: float) -> np.ndarray:
    N = cov.shape[0]
    ones = np.ones(N)
    rhs = ones[:, None] if mean is None else np.column_stack([ones, mean])
    try:
        sol = np.linalg.solve(cov, rhs)
    except np.linalg.LinAlgError:  # singular (e.g. flat prices, no shrinkage): least squares
        sol = np.linalg.lstsq(cov, rhs, rcond=None)[0]
    a = sol[:, 0]
    if abs(a.sum()) < 1e-300:
        return np.full(N, 1.0 / N)
    w_mv = a / a.sum()
    if mean is None:
        return w_mv
    b = sol[:, 1]
    return w_mv + (b - (b.sum() / a.sum()) * a) / gamma


def markowitz_weights(
    prices: np.ndarray,
    window: int = 252,
    min_periods: int | None = 60,
    rebalance_every: int = 1,
    objective: Literal["minvar", "meanvar"] = "minvar",
    gamma: float = 10.0,
) -> np.ndarray:
    """Shrinkage-covariance "light" Markowitz weights, ``sum w = 1``, shorts allowed.

    Parameters
    ----------
    prices : (T, N) array
        Strictly positive prices.
    window, min_periods, rebalance_every : int
        Estimation window (visible returns), warm-up length (equal weights
        before) and recomputation step, as in :func:`inverse_vol_weights`.
    objective : {"minvar", "meanvar"}
        ``minvar`` (default): ``w = S^-1 1 / 1'S^-1 1``.  ``meanvar``:
        ``argmax w'm - gamma/2 w'Sw`` subject to ``1'w = 1`` (closed form in
        the module docstring), ``m`` the rolling mean simple return per period.
    gamma : float
        Risk aversion for ``meanvar`` (per-period units), > 0.

    Returns
    -------
    (T, N) array
        Rows sum to 1; entries may be negative.  A row whose shrunk
        covariance is singular (no shrinkage and a rank-deficient sample
        covariance, e.g. only two returns when ``min_periods=2``) has no
        minimum-variance solution and is equal weights, like a warm-up row.
    """
    if objective not in ("minvar", "meanvar"):
        raise InputError("objective", f"{objective!r} is not minvar or meanvar", "pick one")
    if not gamma > 0:
        raise InputError("gamma", f"must be > 0, got {gamma}", "use a positive risk aversion")

    def estimate(xs: np.ndarray) -> np.ndarray | None:
        cov, shrink = ledoit_wolf(xs)
        if np.trace(cov) <= 0 or _singular(cov, shrink):
            return None
        mean = xs.mean(axis=0) if objective == "meanvar" else None
        return _budget_solution(cov, mean, gamma)

    return _rolling_weights(visible_returns(prices), window, min_periods, rebalance_every,
                            estimate)


def user_weights(weights: np.ndarray, T: int, N: int, *, normalize: bool = False,
                 name: str = "weights") -> np.ndarray:
    """Validate user weights and return them as ``(T, N)``.

    Parameters
    ----------
    weights : (N,) or (T, N) array
        Target notional weights; each row must sum to 1 (within 1e-6).
    normalize : bool
        Divide each row by its sum instead of rejecting it (sum must not be 0).
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim == 1:
        if w.size != N:
            raise InputError(name, f"has {w.size} values, expected {N}", "one weight per asset")
        w = np.broadcast_to(w, (T, N)).copy()
    elif w.ndim == 2:
        if w.shape != (T, N):
            raise InputError(
                name, f"is {w.shape[0]}x{w.shape[1]}, expected {T}x{N}", "match the prices"
            )
        w = w.copy()
    else:
        raise InputError(name, f"has {w.ndim} dimensions", "pass a vector or a T x N table")
    if not np.all(np.isfinite(w)):
        raise InputError(name, "contains NaN or infinite values", "enter numbers")
    s = w.sum(axis=1)
    if normalize:
        if np.any(np.abs(s) < 1e-12):
            raise InputError(name, "a row sums to 0", "weights must sum to 1")
        return w / s[:, None]
    check_sums(w, name)
    return w


def check_sums(W: np.ndarray, name: str = "weights", by_row: bool = False) -> None:
    """Refuse weights whose rows do not sum to 1 within :data:`WEIGHT_SUM_TOL`.

    Eq. 1 is market neutral only for ``sum w = 1``: ``sum_i w_i (R - r_i) =
    R (sum w - 1)``, so weights summing to 20 made every signal trade carry a net
    notional of ``19 beta R`` (net -3 x NAV after one bar on the bundled data).
    ``by_row`` names the first row that fails (weights per bar).
    """
    s = W.sum(axis=1)
    off = np.flatnonzero(np.abs(s - 1.0) > WEIGHT_SUM_TOL)
    if off.size:
        at = f" in row {off[0] + 1}" if by_row else ""
        raise InputError(name, f"sum to {s[off[0]]:.6g}{at}, expected 1",
                         "rescale them to sum to 1")


def make_weights(scheme: str | np.ndarray, prices: np.ndarray, **kwargs) -> np.ndarray:
    """Dispatch on a scheme name (``equal``, ``invvol``, ``markowitz``) or user weights.

    Extra keyword arguments go to the scheme's function.
    """
    p = _check_prices(prices)
    T, N = p.shape
    if not isinstance(scheme, str):
        return user_weights(scheme, T, N, **kwargs)
    key = scheme.strip().lower()
    if key == "equal":
        return equal_weights(T, N)
    if key in ("invvol", "inverse_vol", "inverse-vol"):
        return inverse_vol_weights(p, **kwargs)
    if key in ("markowitz", "shrinkage", "minvar"):
        return markowitz_weights(p, **kwargs)
    raise InputError("weights", f"{scheme!r} is not one of {', '.join(SCHEMES)}", "pick one")
