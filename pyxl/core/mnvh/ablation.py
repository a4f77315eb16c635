"""Ablation grids and walk-forward selection for MNVH (seed 000, sec. 9).

Ablation
    :func:`ablation_grid` runs every combination of ``lam x beta x weight
    scheme x hedge on/off (x throttle on/off)`` on the same prices and returns
    a tidy :class:`pandas.DataFrame`, one row per grid point, with the point's
    parameters and every metric of :data:`pyxl.core.metrics.METRICS`.  Grid
    points run in parallel on local processes; each point is a pure function
    of its inputs, and rows are assembled in grid order, so the table is
    identical whatever the worker count.

Walk-forward
    :func:`walk_forward` splits the rows into folds: an in-sample (IS) block
    of ``is_periods`` rows followed by an out-of-sample (OOS) block of
    ``oos_periods`` rows, rolling forward by ``oos_periods`` (``anchored=True``
    grows the IS block from row 0 instead).  In each fold the grid is run on
    the IS rows only and the point with the best IS ``criterion`` (default
    Sharpe; a ratio whose risk is zero scores ``+inf`` for a gain and 0 for a
    flat NAV, see :func:`_score`; NaN counts as worst; ties go to the first
    point in grid order) is chosen.  It is then run *afresh* on the OOS rows
    (flat book, starting capital ``cash0``), and only those OOS runs are
    reported: per fold, and chained into one OOS NAV path whose metrics are
    the headline figures.
    Causal estimators (weights, rho, hedge betas) may look back before a
    block's first row, which is past data, never after its last row.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pyxl.core.labels import align_to_prices, check_time_order
from pyxl.core.metrics import METRICS, backtest_metrics, performance_metrics, run_periods
from pyxl.core.mnvh import DEFAULT_BETA, DEFAULT_LAM, FeeModel, MNVHConfig, run_backtest, run_grid
from pyxl.core.mnvh.estimation import regime_throttle, rolling_betas, rolling_rho
from pyxl.core.mnvh.weights import make_weights
from pyxl.errors import InputError

__all__ = [
    "StrategyInputs",
    "build_inputs",
    "run_strategy",
    "GridPoint",
    "grid_points",
    "grid_metrics",
    "ablation_grid",
    "WalkForwardResult",
    "walk_forward",
    "CRITERIA",
    "METRICS",
    "DEFAULT_FEE_RATE",
    "DEFAULT_HALF_SPREAD",
    "research_config",
    "ruined",
]

#: Walk-forward selection criteria (higher is better).
CRITERIA = ("sharpe", "sortino", "cagr", "calmar")

#: Default commission of the research adapters (formula, CLI, demo): 5 bp of notional.
DEFAULT_FEE_RATE = 0.0005
#: Default half spread of the research adapters: 1 bp of the mid price.
DEFAULT_HALF_SPREAD = 0.0001


def research_config(
    *,
    lam: float | None = None,
    beta: float | None = None,
    beta_mode: str = "nav",
    cash0: float = 1_000_000.0,
    min_cash: float = 0.0,
    max_gross: float | None = None,
    max_position: float | None = None,
    drawdown_stop: float | None = None,
    exec_lag: int = 0,
    lot_method: str = "fifo",
    fee_rate: float = DEFAULT_FEE_RATE,
    fixed_fee: float = 0.0,
    half_spread: float = DEFAULT_HALF_SPREAD,
    borrow_rate: float = 0.0,
    cash_rate: float = 0.0,
    debit_rate: float | None = None,
    periods_per_year: int = 252,
    lot_size: float | tuple[float, ...] | None = None,
) -> MNVHConfig:
    """The one place the formula, the CLI and the demo build an :class:`MNVHConfig`.

    ``lam``/``beta`` default to the engine's ``DEFAULT_LAM``/``DEFAULT_BETA``;
    costs default to :data:`DEFAULT_FEE_RATE` and :data:`DEFAULT_HALF_SPREAD`
    (the engine itself defaults to frictionless).  No impact term: it needs
    traded volumes, which price tables do not carry (use the Python API).
    """
    fees = FeeModel(fee_rate=fee_rate, fixed_fee=fixed_fee, half_spread=half_spread,
                    borrow_rate=borrow_rate, cash_rate=cash_rate, debit_rate=debit_rate,
                    periods_per_year=int(periods_per_year))
    return MNVHConfig(
        lam=DEFAULT_LAM if lam is None else float(lam),
        beta=DEFAULT_BETA if beta is None else float(beta),
        beta_mode=beta_mode, cash0=float(cash0), min_cash=float(min_cash),
        max_gross=max_gross, max_position=max_position, drawdown_stop=drawdown_stop,
        exec_lag=int(exec_lag), lot_method=lot_method, fees=fees, lot_size=lot_size,
    )


@dataclass(frozen=True)
class StrategyInputs:
    """Everything :func:`pyxl.core.mnvh.run_backtest` needs besides prices and config.

    All arrays have ``T`` rows and row ``t`` is known at ``t``.
    """

    weights: np.ndarray
    beta_scale: np.ndarray | None = None
    hedge_prices: np.ndarray | None = None
    asset_betas: np.ndarray | None = None

    def rows(self, lo: int, hi: int) -> StrategyInputs:
        """The same inputs restricted to rows ``lo:hi``."""
        def cut(a):
            return None if a is None else a[lo:hi]
        return StrategyInputs(cut(self.weights), cut(self.beta_scale), cut(self.hedge_prices),
                              cut(self.asset_betas))


def build_inputs(
    prices: np.ndarray,
    scheme: str | np.ndarray = "equal",
    *,
    benchmark: np.ndarray | None = None,
    hedge: bool = False,
    throttle: bool = False,
    weight_kwargs: dict | None = None,
    rho_window: int = 252,
    rho_min_periods: int = 60,
    throttle_kwargs: dict | None = None,
    beta_window: int = 126,
    beta_min_periods: int = 40,
) -> StrategyInputs:
    """Causal strategy inputs: weights, optional throttle scale and hedge leg.

    Parameters
    ----------
    prices : (T, N) array
    scheme : str or array
        Weight scheme name (see :func:`pyxl.core.mnvh.weights.make_weights`)
        or user weights ``(N,)`` / ``(T, N)``.
    benchmark : (T,) array, optional
        Benchmark prices; required when ``hedge`` is true (it is the hedge asset).
    hedge : bool
        Add the beta-neutral hedge: hedge asset = benchmark, asset betas =
        rolling OLS betas on it (:func:`~pyxl.core.mnvh.estimation.rolling_betas`).
    throttle : bool
        Scale beta by :func:`~pyxl.core.mnvh.estimation.regime_throttle` of the
        rolling rho (sec. 10).

    With a price DataFrame, a weights Series or DataFrame (``scheme``) and a benchmark
    Series meet the price columns and dates by label, as in
    :func:`~pyxl.core.mnvh.run_backtest`.
    """
    check_time_order(prices, "prices")
    if not isinstance(scheme, str):
        scheme = align_to_prices(scheme, prices, "weights", assets=True, dates=True)
    benchmark = align_to_prices(benchmark, prices, "benchmark", assets=False, dates=True)
    # row-major whatever the caller's layout: numpy sums (inverse-vol weights, rho) round
    # in the order of the memory, so a column-major table (a DataFrame's values, a CSV
    # read by pandas) differed from the formula's row-major cells in the last digit
    p = np.ascontiguousarray(prices, dtype=float)
    w = make_weights(scheme, p, **(weight_kwargs or {}))
    scale = None
    if throttle:
        rho = rolling_rho(p, w, window=rho_window, min_periods=rho_min_periods)
        scale = regime_throttle(rho, **(throttle_kwargs or {}))
    hp = ab = None
    if hedge:
        if benchmark is None:
            raise InputError("benchmark", "is needed for the hedge", "give benchmark prices")
        hp = np.asarray(benchmark, dtype=float).ravel()
        ab = rolling_betas(p, hp, window=beta_window, min_periods=beta_min_periods)
    return StrategyInputs(w, scale, hp, ab)


def run_strategy(prices: np.ndarray, config, inputs: StrategyInputs):
    """:func:`pyxl.core.mnvh.run_backtest` with the given inputs."""
    return run_backtest(
        np.asarray(prices, dtype=float), inputs.weights, config,
        beta_scale=inputs.beta_scale, hedge_prices=inputs.hedge_prices,
        asset_betas=inputs.asset_betas,
    )


@dataclass(frozen=True)
class GridPoint:
    """One ablation point."""

    lam: float
    beta: float
    weights: str = "equal"
    hedge: bool = False
    throttle: bool = False


def grid_points(
    lams: Sequence[float],
    betas: Sequence[float],
    schemes: Sequence[str] = ("equal",),
    hedges: Sequence[bool] = (False,),
    throttles: Sequence[bool] = (False,),
) -> list[GridPoint]:
    """The full product in a fixed order (scheme, hedge, throttle, lam, beta; beta fastest)."""
    for name, seq in (("lams", lams), ("betas", betas), ("schemes", schemes),
                      ("hedges", hedges), ("throttles", throttles)):
        if len(seq) == 0:
            raise InputError(name, "is empty", "give at least one value")
    return [GridPoint(float(lam), float(b), str(s), bool(h), bool(th))
            for s, h, th, lam, b in itertools.product(schemes, hedges, throttles, lams, betas)]


def grid_metrics(gr, g: int, *, benchmark=None, periods_per_year: float = 252.0,
                 rf: float = 0.0) -> dict:
    """Metrics of point ``g`` of a :class:`~pyxl.core.mnvh.GridResult`.

    ``rf`` is the annual rate Sharpe and Sortino measure the excess return over:
    the callers here pass the run's ``cash_rate``, as :func:`backtest_metrics` uses.

    The grid kernel keeps NAV, exposures, costs, financing and turnover per
    bar; the gross trading PnL is recovered from the ledger identity,
    ``MTM_s = NAV_s - NAV_{s-1} + fees_s + slippage_s - financing_s``.
    """
    nav = gr.nav[g]
    costs = float(np.sum(gr.fees[g]) + np.sum(gr.slippage[g]))
    gross_pnl = float(nav[-1] - nav[0]) + costs - float(np.sum(gr.financing[g]))
    m = performance_metrics(nav, periods_per_year=periods_per_year, rf=rf, benchmark=benchmark,
                            gross_exposure=gr.gross[g], net_exposure=gr.net[g],
                            traded_notional=gr.turnover[g], costs=costs, gross_pnl=gross_pnl)
    m["risk_events"] = float(gr.n_events[g])
    return m


class _Threads:
    """Temporarily run numba's parallel loops on ``n`` threads (restored on exit)."""

    def __init__(self, n: int | None) -> None:
        import numba

        self.numba = numba
        cap = numba.config.NUMBA_NUM_THREADS
        self.n = cap if n is None or n <= 0 else max(1, min(int(n), cap))

    def __enter__(self):
        self.prev = self.numba.get_num_threads()
        self.numba.set_num_threads(self.n)
        return self

    def __exit__(self, *exc) -> None:
        self.numba.set_num_threads(self.prev)


def _unhedged_lots(config, inputs: StrategyInputs, n_assets: int):
    """``config`` for a point without the hedge: a per-asset ``lot_size`` given with the
    hedge's lot last (N + 1 values, for grids over hedge on and off) loses that last value;
    anything else is returned as it is."""
    ls = config.lot_size
    if inputs.hedge_prices is None and isinstance(ls, tuple) and len(ls) == n_assets + 1:
        return dataclasses.replace(config, lot_size=ls[:n_assets])
    return config


def _evaluate(prices, config, inputs, points, benchmark, periods_per_year, n_jobs):
    """Metrics per point, in point order.

    Points sharing (weights, hedge, throttle) run as one
    :func:`~pyxl.core.mnvh.run_grid` call, parallel over grid points on
    ``n_jobs`` numba threads; each point is an independent deterministic
    simulation, so the numbers do not depend on ``n_jobs``.
    """
    out: list[dict | None] = [None] * len(points)
    groups: dict[tuple, list[int]] = {}
    for k, gp in enumerate(points):
        groups.setdefault((gp.weights, gp.hedge, gp.throttle), []).append(k)
    with _Threads(n_jobs):
        for key, idx in groups.items():
            inp = inputs[key]
            gr = run_grid(prices, inp.weights, [points[k].lam for k in idx],
                          [points[k].beta for k in idx],
                          _unhedged_lots(config, inp, np.shape(prices)[1]), pairs=True,
                          beta_scale=inp.beta_scale, hedge_prices=inp.hedge_prices,
                          asset_betas=inp.asset_betas)
            for g, k in enumerate(idx):
                out[k] = grid_metrics(gr, g, benchmark=benchmark,
                                      periods_per_year=periods_per_year,
                                      rf=config.fees.cash_rate)
    return out


def _all_inputs(prices, points, benchmark, input_kwargs):
    inputs = {}
    for gp in points:
        key = (gp.weights, gp.hedge, gp.throttle)
        if key not in inputs:
            inputs[key] = build_inputs(prices, gp.weights, benchmark=benchmark, hedge=gp.hedge,
                                       throttle=gp.throttle, **(input_kwargs or {}))
    return inputs


def _table(points: list[GridPoint], metrics: list[dict]) -> pd.DataFrame:
    rows = [{**dataclasses.asdict(gp), **m} for gp, m in zip(points, metrics, strict=True)]
    return pd.DataFrame(rows)


def ablation_grid(
    prices: np.ndarray,
    config,
    *,
    lams: Sequence[float],
    betas: Sequence[float],
    schemes: Sequence[str] = ("equal",),
    hedges: Sequence[bool] = (False,),
    throttles: Sequence[bool] = (False,),
    benchmark: np.ndarray | None = None,
    periods_per_year: float | None = None,
    n_jobs: int | None = None,
    input_kwargs: dict | None = None,
) -> pd.DataFrame:
    """Tidy table of metrics over the grid ``schemes x hedges x throttles x lams x betas``.

    Parameters
    ----------
    prices : (T, N) array or DataFrame
        Prices > 0, oldest first (a DataFrame's dates must increase).
    config : MNVHConfig
        Base configuration; ``lam`` and ``beta`` are replaced per point.
    benchmark : (T,) array or Series, optional
        Benchmark prices: the metrics' beta/correlation reference and the
        hedge asset (required when ``True in hedges``).  A Series labelled by
        dates meets a price DataFrame's dates by label.
    periods_per_year : float, optional
        Bars a year for the metrics: by default the config's
        ``fees.periods_per_year``; another value is refused
        (:func:`~pyxl.core.metrics.run_periods`).
    n_jobs : int, optional
        Threads for the parallel grid (``None`` or <= 0: all cores).  The
        result does not depend on it.
    input_kwargs : dict, optional
        Passed to :func:`build_inputs` (estimation windows, weight options).

    Returns
    -------
    pandas.DataFrame
        Columns ``lam, beta, weights, hedge, throttle``, the metric keys of
        :data:`~pyxl.core.metrics.METRICS` and ``risk_events`` (number of
        logged limit/stop events).
    """
    check_time_order(prices, "prices")
    benchmark = align_to_prices(benchmark, prices, "benchmark", assets=False, dates=True)
    p = np.asarray(prices, dtype=float)
    points = grid_points(lams, betas, schemes, hedges, throttles)
    bench = None if benchmark is None else np.asarray(benchmark, dtype=float).ravel()
    inputs = _all_inputs(p, points, bench, input_kwargs)
    ppy = run_periods(config, periods_per_year)
    metrics = _evaluate(p, config, inputs, points, bench, ppy, n_jobs)
    return _table(points, metrics)


def ruined(cagr, max_drawdown):
    """True where a run's NAV reached <= 0 (``cagr`` -1, or a drawdown of 100 % or more).

    Works on scalars and on columns of a metrics table.  Such a run has blank Sharpe
    and Sortino (:mod:`pyxl.core.metrics`) and a Calmar that can beat a surviving
    loser's, so neither the walk-forward (:func:`_score`) nor ``pyxl ablation``'s
    printed ranking lets it win.
    """
    return np.less_equal(cagr, -1.0) | np.less_equal(max_drawdown, -1.0)


def _score(m: dict, criterion: str) -> float:
    """In-sample selection score of one grid point's metrics ``m`` (higher is better).

    Sharpe, Sortino and Calmar are ratios of a return to a risk (volatility,
    downside deviation, max drawdown).  When the risk is exactly zero (a point
    that never trades and earns interest on its cash, a throttle that keeps the
    book flat, a NAV that only rises) the metric table leaves the ratio blank,
    but for choosing parameters its limit is known: ``+inf`` for a positive
    return, 0 for none (a flat NAV), so a riskless gain is preferred to any
    risky point and doing nothing to a loss.  Only a score that is undefined
    for lack of data (fewer than two returns) counts as worst (``-inf``).

    A point whose NAV reached <= 0 in sample (ruined: ``max_drawdown <= -1``,
    ``cagr = -1``) also counts as worst, whatever its ratio: its Sharpe and
    Sortino are blank (the returns up to the ruin can have a high one: a
    leveraged run that compounds before one return of -100 % or worse), and its
    Calmar ``-1 / |max drawdown|`` can beat a surviving loser's, but a
    parameter set that lost all its capital in sample is never the best choice.
    """
    cagr = m.get("cagr", math.nan)
    if ruined(cagr, m.get("max_drawdown", math.nan)):
        return -math.inf
    if criterion == "calmar":
        mdd = m.get("max_drawdown", math.nan)
        if mdd < 0:
            v = cagr / -mdd
        elif mdd == 0 and m.get("periods", 0) >= 1:  # NAV never fell: all returns >= 0
            v = math.inf if cagr > 0 else 0.0
        else:
            v = math.nan
    else:
        v = m[criterion]
        if (criterion in ("sharpe", "sortino") and (v is None or math.isnan(v))
                and m.get("periods", 0) >= 2 and math.isfinite(cagr)):
            # enough returns but zero risk: Sharpe with ann_vol == 0 (every return
            # equal), Sortino with no return below zero; the sign of the total
            # return is the sign of the mean return in both cases
            risk0 = m.get("ann_vol") == 0.0 if criterion == "sharpe" else cagr >= 0
            if risk0:
                v = math.inf if cagr > 0 else 0.0
    if v is None or math.isnan(v):
        return -math.inf
    return float(v)


@dataclass
class WalkForwardResult:
    """Out-of-sample results of :func:`walk_forward`.

    Attributes
    ----------
    folds : DataFrame
        One row per fold: IS and OOS row ranges (first and last row, inclusive), the chosen
        point, its IS score, and the OOS metrics of that fold.
    oos_nav : (n,) array
        Chained OOS NAV: starts at ``cash0`` and compounds each fold's OOS returns.
    oos_rows : (n,) array
        The price rows of ``oos_nav`` (the first is the first fold's OOS start).
    metrics : dict
        Metrics of the chained OOS path (the headline out-of-sample figures).
    is_tables : list of DataFrame
        The full IS grid of each fold (for inspection; never used for reporting).
    """

    folds: pd.DataFrame
    oos_nav: np.ndarray
    oos_rows: np.ndarray
    metrics: dict
    is_tables: list = field(default_factory=list)


def walk_forward(
    prices: np.ndarray,
    config,
    *,
    lams: Sequence[float],
    betas: Sequence[float],
    schemes: Sequence[str] = ("equal",),
    hedges: Sequence[bool] = (False,),
    throttles: Sequence[bool] = (False,),
    benchmark: np.ndarray | None = None,
    is_periods: int = 756,
    oos_periods: int = 252,
    anchored: bool = False,
    criterion: str = "sharpe",
    periods_per_year: float | None = None,
    n_jobs: int | None = None,
    input_kwargs: dict | None = None,
) -> WalkForwardResult:
    """Pick parameters in-sample by ``criterion``, report out-of-sample only.

    Folds (row ranges inclusive): fold ``k`` trades out of sample on price
    rows ``s_k .. e_k`` with ``s_k = is_periods + k * oos_periods`` and
    ``e_k = min(s_k + oos_periods, T - 1)``: it starts flat at ``s_k`` and
    earns the ``oos_periods`` returns up to ``e_k``.  Its IS block is rows
    ``s_k - is_periods .. s_k`` (rolling; ``0 .. s_k`` when anchored), all
    known when the OOS block starts.  Consecutive OOS blocks share only their
    boundary row, so the chained OOS returns cover rows ``is_periods .. T-1``
    exactly once.

    Selection: the highest IS ``criterion`` (``sharpe``, ``sortino``, ``cagr``
    or ``calmar`` = CAGR / |max drawdown|).  A ratio with zero risk (no
    volatility, no downside, no drawdown: e.g. a point that never trades and
    earns interest on cash) scores ``+inf`` for a gain and 0 for a flat NAV
    instead of being dropped as undefined; a score undefined for lack of
    returns counts as worst, and so does a point ruined in sample (NAV <= 0 at
    some bar), whatever its ratio; ties go to the first point in grid order.

    Returns
    -------
    WalkForwardResult
    """
    check_time_order(prices, "prices")
    benchmark = align_to_prices(benchmark, prices, "benchmark", assets=False, dates=True)
    p = np.asarray(prices, dtype=float)
    T = p.shape[0]
    if criterion not in CRITERIA:
        raise InputError("criterion", f"{criterion!r} is not one of {', '.join(CRITERIA)}",
                         "pick one")
    if is_periods < 3:
        raise InputError("is_periods", f"must be >= 3, got {is_periods}", "use more rows")
    if oos_periods < 2:
        raise InputError("oos_periods", f"must be >= 2, got {oos_periods}", "use more rows")
    if T < is_periods + 2:
        raise InputError("prices", f"has {T} rows, walk-forward needs > {is_periods + 1}",
                         "use more history or a shorter is_periods")
    points = grid_points(lams, betas, schemes, hedges, throttles)
    periods_per_year = run_periods(config, periods_per_year)
    bench = None if benchmark is None else np.asarray(benchmark, dtype=float).ravel()
    inputs = _all_inputs(p, points, bench, input_kwargs)
    cash0 = float(config.cash0)
    rows_out, is_tables = [], []
    nav_parts, row_parts = [np.array([cash0])], [np.array([is_periods])]
    gross_parts, net_parts, tn_parts = [np.zeros(1)], [np.zeros(1)], [np.zeros(1)]
    bench_parts = [] if bench is None else [bench[is_periods : is_periods + 1]]
    costs = gross_pnl = 0.0
    level = cash0
    s = is_periods
    k = 0
    while s < T - 1:
        e = min(s + oos_periods, T - 1)
        lo = 0 if anchored else s - is_periods
        is_inp = {key: v.rows(lo, s + 1) for key, v in inputs.items()}
        b_is = None if bench is None else bench[lo : s + 1]
        is_m = _evaluate(p[lo : s + 1], config, is_inp, points, b_is, periods_per_year, n_jobs)
        scores = [_score(m, criterion) for m in is_m]
        best = int(np.argmax(scores))  # first maximum = first in grid order
        is_tables.append(_table(points, is_m))
        gp = points[best]
        inp = inputs[(gp.weights, gp.hedge, gp.throttle)].rows(s, e + 1)
        cfg = _unhedged_lots(dataclasses.replace(config, lam=gp.lam, beta=gp.beta), inp,
                             p.shape[1])
        po = p[s : e + 1]
        res = run_strategy(po, cfg, inp)
        b_oos = None if bench is None else bench[s : e + 1]
        m = backtest_metrics(res, po, benchmark=b_oos, periods_per_year=periods_per_year,
                             hedge_prices=inp.hedge_prices)
        m["identity_residual"] = float(res.identity_residual())
        m["risk_events"] = float(len(res.risk_events))
        rows_out.append({"fold": k, "is_first": lo, "is_last": s, "oos_first": s,
                         "oos_last": e, **dataclasses.asdict(gp),
                         f"is_{criterion}": scores[best], **m})
        nav = np.asarray(res.nav, dtype=float)
        scale = level / nav[0]
        # chain: this fold's path rescaled to start where the previous one ended
        nav_parts.append(nav[1:] * scale)
        row_parts.append(np.arange(s + 1, e + 1))
        gross_parts.append(np.asarray(res.gross, dtype=float)[1:] * scale)
        net_parts.append(np.asarray(res.net, dtype=float)[1:] * scale)
        tn = np.sum(np.abs(np.asarray(res.trades, dtype=float)[:, : p.shape[1]]) * po, axis=1)
        if getattr(res, "hedge_trades", None) is not None and inp.hedge_prices is not None:
            tn = tn + np.abs(np.asarray(res.hedge_trades)) * inp.hedge_prices
        tn_parts.append(tn[1:] * scale)
        if bench is not None:
            bench_parts.append(bench[s + 1 : e + 1])
        costs += float(np.sum(res.fees) + np.sum(res.slippage)) * scale
        gross_pnl += float(np.sum(res.mtm)) * scale
        level = float(nav[-1] * scale)
        if level <= 0:
            break
        s = e
        k += 1
    oos_nav = np.concatenate(nav_parts)
    metrics = performance_metrics(
        oos_nav, periods_per_year=periods_per_year, rf=config.fees.cash_rate,
        benchmark=None if bench is None else np.concatenate(bench_parts),
        gross_exposure=np.concatenate(gross_parts), net_exposure=np.concatenate(net_parts),
        traded_notional=np.concatenate(tn_parts), costs=costs, gross_pnl=gross_pnl,
    )
    return WalkForwardResult(pd.DataFrame(rows_out), oos_nav, np.concatenate(row_parts),
                             metrics, is_tables)

