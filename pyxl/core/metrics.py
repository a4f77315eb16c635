"""Performance metrics of a NAV path (seed 000, sec. 9), shared by every engine and adapter.

Definitions (``P`` periods per year, ``n`` returns, ``r_t = NAV_t / NAV_{t-1} - 1``):

=====================  ===================================================================
``cagr``               ``(NAV_end / NAV_0)^(P/n) - 1``; -1 once NAV reaches <= 0; NaN when
                       it is beyond 1e308 (a short run of short bars annualised)
``ann_vol``            ``std(r, ddof=1) * sqrt(P)``
``sharpe``             ``mean(r - rf/P) / std(r, ddof=1) * sqrt(P)``
``sortino``            ``mean(r - rf/P) / sqrt(mean(min(r - rf/P, 0)^2)) * sqrt(P)``
                       (downside deviation over all periods, Sortino and Price 1994);
                       Sharpe and Sortino are NaN for a ruined path (see below)
``max_drawdown``       ``min_t NAV_t / max_{s<=t} NAV_s - 1`` (<= 0, e.g. -0.25)
``max_dd_duration``    longest run of consecutive periods with NAV below its running peak
``turnover``           ``sum_t sum_i |traded notional_{i,t}| / mean(NAV) / years``: buys plus
                       sells per year as a multiple of NAV; the mean is over the rows with
                       NAV > 0 (as for the exposures), so a ruined run never shows a
                       negative turnover
``fee_gross``          ``(fees + slippage) / gross trading PnL (sum of MTM)``; NaN when the
                       gross PnL is <= 0 (the ratio is then meaningless)
``hit_rate``           share of periods with ``r > 0`` among periods with ``r != 0``
``skew``               adjusted Fisher-Pearson sample skewness (Excel ``SKEW``)
``kurtosis``           bias-corrected excess kurtosis (Excel ``KURT``)
``beta_bench``         ``cov(r, r_b) / var(r_b)`` against benchmark returns (ddof=1)
``corr_bench``         Pearson correlation of ``r`` and ``r_b``
``avg_gross``          ``mean_t gross exposure_t / NAV_t`` (sum of |position value|)
``avg_net``            ``mean_t net exposure_t / NAV_t`` (sum of position value)
=====================  ===================================================================

**Ruin.** Once NAV reaches <= 0 later returns are undefined: the statistics use the
``n`` returns up to and including the one into NAV <= 0 (:func:`nav_returns`),
CAGR is -100 % and the max drawdown is <= -100 %.  Sharpe and Sortino are then NaN
(blank): the book's log growth is -inf, and a mean of simple returns over a path
that ends in ruin can be positive (a run on the bundled data with beta 70 and no
gross cap lost 114 % of its capital at a Sharpe of +0.56, above the index's 0.42),
which would rank a bankrupt book above a surviving one.  Volatility, skew, hit rate
and the other descriptive statistics of those returns are kept.

Undefined values (too few periods, zero volatility, no benchmark) are NaN.  Returns
that are constant up to the rounding of ``NAV_t / NAV_{t-1} - 1`` (a book that only
earns interest, a cash index as benchmark) have zero volatility: their spread
``max r - min r`` is at most ``64 eps (1 + max |r|)`` (about 1.4e-14), and the
ratios built on their standard deviation (Sharpe, skew, kurtosis, correlation, and
beta when the benchmark is the constant one) are NaN instead of rounding noise over
rounding noise (a Sharpe of 2.6e15).

``periods_per_year`` is at most :data:`MAX_PERIODS_PER_YEAR` (one bar a second).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from pyxl.core import LOG_MAX
from pyxl.core.labels import in_order
from pyxl.errors import InputError

__all__ = [
    "METRICS",
    "BACKTEST_EXTRA",
    "MAX_PERIODS_PER_YEAR",
    "nav_returns",
    "mean_exposure",
    "drawdown",
    "max_drawdown",
    "sample_skew",
    "sample_excess_kurtosis",
    "is_constant",
    "performance_metrics",
    "backtest_metrics",
    "run_periods",
    "format_metrics",
]

#: Largest ``periods_per_year``: one bar a second over a 366-day year (31,622,400).
#: Principled bound: no price table has shorter bars, and annualising by a larger
#: factor only magnifies rounding (a 1e300 typed here gave CAGR and Sharpe of inf).
MAX_PERIODS_PER_YEAR = 366 * 24 * 3600

#: Metric keys in display order, with the label shown in tables and cells.
METRICS: dict[str, str] = {
    "periods": "Periods",
    "years": "Years",
    "final_nav": "Final NAV",
    "total_return": "Total return",
    "cagr": "CAGR",
    "ann_vol": "Annualised vol",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "max_drawdown": "Max drawdown",
    "max_dd_duration": "Max DD duration (periods)",
    "turnover": "Turnover (x NAV per year)",
    "fee_gross": "Fee/Gross",
    "hit_rate": "Hit rate",
    "skew": "Skew",
    "kurtosis": "Excess kurtosis",
    "beta_bench": "Beta to benchmark",
    "corr_bench": "Correlation to benchmark",
    "avg_gross": "Avg gross exposure (x NAV)",
    "avg_net": "Avg net exposure (x NAV)",
}

#: Rows the MNVH backtest tables show after :data:`METRICS` (``=MNVH_BACKTEST``, and
#: ``metrics.csv`` under its own keys): one spelling of each label for every adapter.
BACKTEST_EXTRA: dict[str, str] = {
    "identity_residual": "Ledger identity residual (max rel.)",
    "risk_events": "Risk events",
    "mean_rho": "Mean rho (rolling, clipped)",
}


#: Spread of returns, relative to ``1 + max |r|``, below which they count as constant:
#: 64 ulps of 1, far above the few ulps one ``NAV_t / NAV_{t-1} - 1`` rounds by and far
#: below any return a real book or price earns.
CONSTANT_RTOL = 64 * np.finfo(float).eps


def is_constant(r: np.ndarray) -> bool:
    """True when returns ``r`` are equal up to rounding (see :data:`CONSTANT_RTOL`).

    Parameters
    ----------
    r : (n,) array
        Simple returns per period (decimals).

    Returns
    -------
    bool
        ``max r - min r <= CONSTANT_RTOL * (1 + max |r|)``; True for an empty array.
    """
    r = np.asarray(r, dtype=float)
    if r.size == 0:
        return True
    spread = float(np.max(r) - np.min(r))
    return spread <= CONSTANT_RTOL * (1.0 + float(np.max(np.abs(r))))


def _vec(x, name: str) -> np.ndarray:
    v = np.asarray(x, dtype=float).ravel()
    if not np.all(np.isfinite(v)):
        raise InputError(name, "contains NaN or infinite values", "pass finite numbers")
    return v


def mean_exposure(exposure: np.ndarray, nav: np.ndarray) -> np.ndarray:
    """``mean_t exposure_t / NAV_t`` over the rows with ``NAV_t > 0`` (the ``avg_gross``
    and ``avg_net`` metrics), along the last axis: (T,) -> scalar, (G, T) -> (G,).

    Parameters
    ----------
    exposure, nav : array_like
        Gross (sum of |position value|) or net exposure, and NAV, both in currency, the
        start row included.

    Returns
    -------
    numpy.ndarray
        Exposure as a multiple of NAV (NaN for a run with no row of positive NAV).
    """
    e, v = np.asarray(exposure, dtype=float), np.asarray(nav, dtype=float)
    alive = v > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(np.where(alive, e / np.where(alive, v, 1.0), 0.0), axis=-1) \
            / np.sum(alive, axis=-1)


def nav_returns(nav: np.ndarray) -> np.ndarray:
    """Per-period simple returns of a NAV path, cut after the first NAV <= 0.

    The return into a non-positive NAV is kept (it is <= -100 %); later
    returns are undefined and dropped.
    """
    v = _vec(nav, "nav")
    if v.size == 0 or v[0] <= 0:
        raise InputError("nav", "must start > 0", "start with positive capital")
    bad = np.flatnonzero(v <= 0)
    end = v.size if bad.size == 0 else bad[0] + 1
    return v[1:end] / v[: end - 1] - 1.0


def drawdown(nav: np.ndarray) -> np.ndarray:
    """``NAV_t / running max - 1`` (<= 0)."""
    v = _vec(nav, "nav")
    return v / np.maximum.accumulate(v) - 1.0


def max_drawdown(nav: np.ndarray) -> tuple[float, int]:
    """Maximum drawdown (<= 0) and the longest underwater run in periods."""
    v = _vec(nav, "nav")
    if v.size == 0:
        return math.nan, 0
    peak = np.maximum.accumulate(v)
    edges = np.diff(np.concatenate([[0], (v < peak).astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    longest = int(np.max(ends - starts)) if starts.size else 0
    return float(np.min(v / peak - 1.0)), longest


def sample_skew(r: np.ndarray) -> float:
    """Adjusted Fisher-Pearson skewness ``sqrt(n(n-1))/(n-2) * m3 / m2^1.5`` (n >= 3)."""
    r = np.asarray(r, dtype=float)
    n = r.size
    if n < 3 or is_constant(r):  # Excel's SKEW gives #DIV/0! for equal values
        return math.nan
    d = r - r.mean()
    d2 = d * d
    m2 = np.mean(d2)
    g1 = np.mean(d2 * d) / m2**1.5
    return float(math.sqrt(n * (n - 1)) / (n - 2) * g1)


def sample_excess_kurtosis(r: np.ndarray) -> float:
    """Bias-corrected excess kurtosis (Excel ``KURT``; n >= 4)."""
    r = np.asarray(r, dtype=float)
    n = r.size
    if n < 4 or is_constant(r):  # Excel's KURT gives #DIV/0! for equal values
        return math.nan
    d = r - r.mean()
    d2 = d * d
    m2 = np.mean(d2)
    g2 = np.mean(d2 * d2) / m2**2 - 3.0
    return float((n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * g2 + 6.0))


def performance_metrics(
    nav: np.ndarray,
    *,
    periods_per_year: float = 252.0,
    rf: float = 0.0,
    benchmark: np.ndarray | None = None,
    gross_exposure: np.ndarray | None = None,
    net_exposure: np.ndarray | None = None,
    traded_notional: np.ndarray | None = None,
    costs: float | None = None,
    gross_pnl: float | None = None,
) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one NAV path.

    Parameters
    ----------
    nav : (T,) array
        NAV at each row, ``nav[0] > 0`` (the starting capital).
    periods_per_year : float
        252 for daily bars.
    rf : float
        Annual risk-free rate (simple) subtracted per period as ``rf / P`` in
        Sharpe and Sortino (the excess-return ratios).  Default 0: the ratios of
        the total return.  MNVH's tables pass the run's ``cash_rate``
        (:func:`backtest_metrics`), the rate its cash, about its whole NAV, earns.
    benchmark : (T,) array, optional
        Benchmark *prices* on the same rows (for beta and correlation).
    gross_exposure, net_exposure : (T,) arrays, optional
        ``sum |q p|`` and ``sum q p`` in currency at each row.
    traded_notional : (T,) array, optional
        ``sum_i |dq_i| p_i`` traded at each row, currency.
    costs, gross_pnl : float, optional
        Total fees plus slippage, and total gross trading PnL (MTM), currency.

    Returns
    -------
    dict
        Keys of :data:`METRICS` in order; NaN where undefined.
    """
    v = _vec(nav, "nav")
    if v.size < 1 or v[0] <= 0:
        raise InputError("nav", "must start > 0", "start with positive capital")
    if not periods_per_year > 0:
        raise InputError("periods_per_year", f"must be > 0, got {periods_per_year}", "use 252")
    if not periods_per_year <= MAX_PERIODS_PER_YEAR:
        raise InputError("periods_per_year", f"{float(periods_per_year):g} is more than "
                         f"{MAX_PERIODS_PER_YEAR:,} (one bar a second)",
                         "enter bars per year: 252 daily, 52 weekly, 12 monthly")
    P = float(periods_per_year)
    r = nav_returns(v)
    n = r.size
    years = (v.size - 1) / P
    out: dict[str, float] = dict.fromkeys(METRICS, math.nan)
    out["periods"] = float(v.size - 1)
    out["years"] = years
    out["final_nav"] = float(v[-1])
    out["total_return"] = float(v[-1] / v[0] - 1.0)
    ruined = bool(np.any(v <= 0))
    if ruined:
        out["cagr"] = -1.0
    elif n >= 1:
        log_cagr = P / n * math.log(v[-1] / v[0])
        # beyond 1e308 the annualised growth is not a number a cell can hold: blank
        out["cagr"] = math.expm1(log_cagr) if log_cagr < LOG_MAX else math.nan
    ex = r - rf / P
    flat = is_constant(r)
    if flat and n and is_constant(np.array([float(np.mean(r)), rf / P])):
        # returns equal to the risk-free rate up to rounding (a book that only earns its
        # cash rate): the excess is 0, not rounding noise (it gave a Sortino of -1.7)
        ex = np.zeros_like(r)
    if n >= 2:
        # equal returns up to rounding: zero volatility, not noise (Sharpe 1e15)
        sd = 0.0 if flat else float(np.std(r, ddof=1))
        out["ann_vol"] = sd * math.sqrt(P)
        # a ruined book has no risk-adjusted return (log growth -inf): blank, see above
        if sd > 0 and not ruined:
            out["sharpe"] = float(ex.mean() / sd * math.sqrt(P))
        dd = math.sqrt(float(np.mean(np.minimum(ex, 0.0) ** 2)))
        if dd > 0 and not ruined:
            out["sortino"] = float(ex.mean() / dd * math.sqrt(P))
    mdd, dur = max_drawdown(v)
    out["max_drawdown"] = mdd
    out["max_dd_duration"] = float(dur)
    nz = r[r != 0]
    if nz.size:
        out["hit_rate"] = float(np.mean(nz > 0))
    out["skew"] = sample_skew(r)
    out["kurtosis"] = sample_excess_kurtosis(r)
    if benchmark is not None:
        b = _vec(benchmark, "benchmark")
        if b.size != v.size:
            raise InputError("benchmark", f"has {b.size} rows, expected {v.size}",
                             "align it with the prices")
        if np.any(b <= 0):
            raise InputError("benchmark", "contains a price <= 0", "enter positive prices")
        rb = (b[1:] / b[:-1] - 1.0)[:n]
        # a benchmark constant up to rounding (a cash index) has zero variance: no beta;
        # a strategy constant up to rounding has zero covariance with anything: beta 0
        if n >= 3 and not is_constant(rb):
            c = np.cov(r, rb, ddof=1)
            out["beta_bench"] = 0.0 if flat else float(c[0, 1] / c[1, 1])
            if not flat:
                out["corr_bench"] = float(c[0, 1] / math.sqrt(c[0, 0] * c[1, 1]))
    if traded_notional is not None and years > 0:
        tn = _vec(traded_notional, "traded_notional")
        alive_nav = v[v > 0]
        out["turnover"] = float(tn.sum() / np.mean(alive_nav) / years)
    if costs is not None and gross_pnl is not None and gross_pnl > 0:
        out["fee_gross"] = float(costs / gross_pnl)
    if gross_exposure is not None:
        out["avg_gross"] = float(mean_exposure(_vec(gross_exposure, "gross_exposure"), v))
    if net_exposure is not None:
        out["avg_net"] = float(mean_exposure(_vec(net_exposure, "net_exposure"), v))
    return out


def run_periods(config, periods_per_year: float | None) -> float:
    """Bars a year to annualise an MNVH run's metrics with: its config's
    ``fees.periods_per_year`` when ``periods_per_year`` is None (252 without a config).

    Sharpe and Sortino subtract ``rf / P`` a bar, and the run credited its cash with
    ``cash_rate / P_config`` a bar; with P = 252 on a monthly run (P_config = 12) about
    95 % of the interest counted as excess return (a Sharpe of -0.49 read +0.05).  So a
    ``periods_per_year`` other than the config's is refused.

    Raises
    ------
    InputError
        When ``periods_per_year`` differs from the config's.
    """
    own = None if config is None else float(config.fees.periods_per_year)
    if periods_per_year is None:
        return 252.0 if own is None else own
    if own is not None and float(periods_per_year) != own:
        raise InputError("periods_per_year", f"is {periods_per_year:g} but the run was "
                         f"made with {own:g} (its fees' periods_per_year)",
                         "leave it out, or set it in the FeeModel")
    return float(periods_per_year)


def backtest_metrics(
    result,
    prices: np.ndarray,
    *,
    benchmark: np.ndarray | None = None,
    periods_per_year: float | None = None,
    rf: float | None = None,
    hedge_prices: np.ndarray | None = None,
) -> dict[str, float]:
    """Metrics of an MNVH :class:`~pyxl.core.mnvh.BacktestResult`.

    ``periods_per_year`` annualises every figure; by default the result's own
    ``config.fees.periods_per_year`` (252 for a result without a config), the
    frequency at which the run credited ``cash_rate / P`` a bar
    (:func:`run_periods`).

    ``rf`` (annual) is what Sharpe and Sortino subtract; by default the result's own
    ``config.fees.cash_rate`` (0 for a result without a config): a market-neutral
    book's cash is about its whole NAV, so its total return holds the cash rate, and a
    Sharpe of the total return would credit the strategy with it (``cash_rate / vol``
    more: -0.14 would read +0.05 on the bundled data at 5 %).

    Traded notional is the result's ``turnover`` column (``sum_i |dq_i| p_i``
    per bar, hedge leg included) or, for results without it,
    ``sum_i |trades_{i,t}| * prices_{i,t}`` plus ``|hedge trade| * hedge price``;
    costs are ``fees + slippage`` and the gross trading PnL is ``sum MTM``.  A
    ``benchmark`` Series labelled by date meets the dates of a result run on a price
    DataFrame by label (:func:`pyxl.core.labels.target_order`).
    """
    index = getattr(result, "price_index", None)
    if index is not None and isinstance(benchmark, pd.Series):
        benchmark = in_order(benchmark, [(index, "price dates")], "benchmark")
    tn = getattr(result, "turnover", None)
    if tn is None:
        p = np.asarray(prices, dtype=float)
        trades = np.asarray(result.trades, dtype=float)
        tn = np.sum(np.abs(trades[:, : p.shape[1]]) * p, axis=1)
        h_tr = getattr(result, "hedge_trades", None)
        if h_tr is not None and hedge_prices is not None:
            tn = tn + np.abs(np.asarray(h_tr, dtype=float)) * np.asarray(hedge_prices, float)
    config = getattr(result, "config", None)
    periods_per_year = run_periods(config, periods_per_year)
    if rf is None:
        rf = float(config.fees.cash_rate) if config is not None else 0.0
    return performance_metrics(
        np.asarray(result.nav, dtype=float),
        periods_per_year=periods_per_year,
        rf=rf,
        benchmark=benchmark,
        gross_exposure=np.asarray(result.gross, dtype=float),
        net_exposure=np.asarray(result.net, dtype=float),
        traded_notional=np.asarray(tn, dtype=float),
        costs=float(np.sum(result.fees) + np.sum(result.slippage)),
        gross_pnl=float(np.sum(result.mtm)),
    )


def format_metrics(m: Mapping[str, float]) -> list[tuple[str, float]]:
    """``(label, value)`` pairs in display order."""
    return [(METRICS[k], m[k]) for k in METRICS if k in m]
