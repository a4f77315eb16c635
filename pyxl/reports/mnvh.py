"""MNVH backtest report: the ``pyxl demo`` section and the ``pyxl backtest`` output.

Writes into ``<outdir>/mnvh/``:

* ``metrics.csv``: the metrics table (strategy as configured, the same run
  without trading costs (commission, fixed fee, spread; financing and the borrow fee
  kept), and the benchmark bought and held), also printed;
* ``equity_curve.png``: NAV paths, drawdown and gross exposure;
* ``ledger.csv`` (and ``ledger.xlsx`` with a metrics sheet when ``xlsx``):
  the per-bar Ledger-SPT ledger;
* ``lots.csv``: open lots at the end; ``risk_events.csv``: every binding limit;
* ``edge_by_year.csv``: eq. 4's expected edge against the realised PnL per year, and the
  NAV at the start of each year (the previous year's last NAV; ``C_0`` for the first);
* ``ablation.csv`` and ``walkforward.csv``: a small grid and a walk-forward;
* ``run_log.txt``: parameters, sample, timings and the ledger checks.

The ledger is verified on every bar of the main run with terms recomputed
here from positions, trades and prices (not the engine's own columns):
``NAV_s = cash_s + sum q p``, ``MTM_s = sum q_{s-1} (p_s - p_{s-1})``, fees,
slippage and financing from the fee model, and
``NAV_s - NAV_{s-1} = MTM - fees - slippage + financing``.  A residual above
1e-9 (relative) raises :class:`LedgerCheckError`; the maxima are written into
the metrics table and the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from pyxl.core.metrics import BACKTEST_EXTRA, METRICS, backtest_metrics, performance_metrics
from pyxl.core.mnvh import BacktestResult, FeeModel, MNVHConfig
from pyxl.core.mnvh.ablation import (
    StrategyInputs,
    ablation_grid,
    build_inputs,
    research_config,
    run_strategy,
    walk_forward,
)
from pyxl.core.mnvh.estimation import expected_edge, mean_rho
from pyxl.numparse import CSV_OUT

__all__ = [
    "LedgerCheckError",
    "verify_ledger",
    "BacktestReport",
    "write_backtest_report",
    "run_demo",
    "DEMO_START",
]

#: First date of the demo sample.  The bundled adjusted closes are rounded to
#: 0.001 USD; before 2005 several split-adjusted prices are below 1 USD (AAPL
#: 0.098 in 1990), where one rounding tick is a 1 % return that reverts the
#: next day and would show up as spurious mean reversion for MNVH to "harvest".
DEMO_START = "2005-01-01"

#: Relative tolerance of the per-bar ledger checks.
LEDGER_TOL = 1e-9


class LedgerCheckError(AssertionError):
    """The ledger identity failed on some bar (never expected: a bug to report)."""


def verify_ledger(res: BacktestResult, prices: np.ndarray, tol: float = LEDGER_TOL
                  ) -> dict[str, float]:
    """Recompute the ledger terms independently and check them on every bar.

    Parameters
    ----------
    res : BacktestResult
        A run of :func:`pyxl.core.mnvh.run_backtest` (linear costs: no impact term).
    prices : (T, N) array
        The prices it ran on.
    tol : float
        Largest accepted relative residual (per bar, relative to
        ``max(|NAV_{s-1}|, gross_{s-1}, gross_s, 1)``).

    Returns
    -------
    dict
        Maximum relative residual of each check: ``nav`` (NAV = cash + sum q p),
        ``mtm``, ``fees``, ``slippage``, ``financing``, ``identity`` (the PnL
        identity with the recomputed terms), ``engine_identity`` (the engine's
        own :meth:`~BacktestResult.identity_residual`) and ``total`` (summed PnL
        vs ``NAV_T - C_0``).

    Raises
    ------
    LedgerCheckError
        When any residual exceeds ``tol``.
    """
    P = np.asarray(prices, dtype=float)
    q, tr = np.asarray(res.q), np.asarray(res.trades)
    if res.hedge_q is not None:
        P = np.column_stack([P, res.hedge_prices])
        q = np.column_stack([q, res.hedge_q])
        tr = np.column_stack([tr, res.hedge_trades])
    cfg: MNVHConfig = res.config
    fm: FeeModel = cfg.fees
    if fm.impact_coef != 0.0:
        raise ValueError("verify_ledger recomputes linear costs only (impact_coef must be 0)")
    scale = np.maximum.reduce([np.abs(res.nav[:-1]), res.gross[:-1], res.gross[1:],
                               np.ones(len(res.nav) - 1)])
    value = (q * P).sum(axis=1)
    nav = res.cash + value
    mtm = np.zeros(len(res.nav))
    mtm[1:] = (q[:-1] * (P[1:] - P[:-1])).sum(axis=1)
    notional = (np.abs(tr) * P).sum(axis=1)
    fees = fm.fee_rate * notional + fm.fixed_fee * (tr != 0).sum(axis=1)
    slip = fm.half_spread * notional
    cash_per, debit_per, borrow_per = fm.per_period()
    fin = np.zeros(len(res.nav))
    c = res.cash[:-1]
    short = (np.maximum(-q[:-1], 0.0) * P[:-1]).sum(axis=1)
    fin[1:] = np.where(c >= 0, c * cash_per, c * debit_per) - borrow_per * short
    pnl = mtm - fees - slip + fin

    def rel(a, b):
        return float(np.max(np.abs(np.asarray(a)[1:] - np.asarray(b)[1:]) / scale))

    out = {
        "nav": max(rel(nav, res.nav), abs(nav[0] - res.nav[0]) / max(abs(res.nav[0]), 1.0)),
        "mtm": rel(mtm, res.mtm),
        "fees": rel(fees, res.fees),
        "slippage": rel(slip, res.slippage),
        "financing": rel(fin, res.financing),
        "identity": float(np.max(np.abs(np.diff(res.nav) - pnl[1:]) / scale)),
        "engine_identity": float(res.identity_residual()),
        "total": abs(float(pnl.sum()) - (res.nav[-1] - cfg.cash0)) / max(cfg.cash0, 1.0),
    }
    bad = {k: v for k, v in out.items() if not v <= tol}
    if bad:
        raise LedgerCheckError(f"ledger check failed (tolerance {tol:g}): {bad}")
    return out


@dataclass
class BacktestReport:
    """What :func:`write_backtest_report` produced."""

    files: list[Path]
    metrics: pd.DataFrame
    checks: dict[str, float]
    result: BacktestResult


#: Metrics that are fractions shown as percents in the printed table, as on the template's
#: Backtest sheet (``pyxl.templates.mnvh``): Fee/Gross too (the seed's 20-40 % band), which
#: was printed as a bare ratio (0.5057) beside the sheet's 50.57 %.
_PERCENT = ("total_return", "cagr", "ann_vol", "max_drawdown", "hit_rate", "fee_gross")


def _fmt(key: str, v: float) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if key in ("periods", "max_dd_duration", "risk_events"):
        return f"{v:,.0f}"
    if key == "final_nav":
        return f"{v:,.2f}"
    if key in _PERCENT:
        return f"{v * 100:.2f} %"
    if key.startswith("check_"):
        return f"{v:.2e}"
    return f"{v:.4g}"


def format_table(frame: pd.DataFrame) -> str:
    """Plain-text rendering of a metrics frame (index = metric keys)."""
    labels = {**METRICS, **_EXTRA}
    cols = list(frame.columns)
    rows = [["Metric", *cols]]
    for key, r in frame.iterrows():
        rows.append([labels.get(key, key), *[_fmt(key, r[c]) for c in cols]])
    widths = [max(len(str(row[j])) for row in rows) for j in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(str(x).ljust(widths[j]) if j == 0 else str(x).rjust(widths[j])
                               for j, x in enumerate(row)))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def ruin_note(nav: np.ndarray, dates: pd.Index, name: str = "the book") -> str | None:
    """One line saying when a NAV path first reached <= 0, or None if it never did.

    ``nav`` and ``dates`` are aligned (currency; one date per NAV row).  A ruined path's
    Sharpe and Sortino are blank (:mod:`pyxl.core.metrics`), so the printed tables say why.
    """
    bad = np.flatnonzero(np.asarray(nav, dtype=float) <= 0)
    if bad.size == 0:
        return None
    k = int(bad[0])
    day = dates[k]
    day = day.date() if isinstance(day, pd.Timestamp) else day
    return (f"RUINED: {name}'s NAV reached {float(nav[k]):,.2f} (<= 0) on {day}; it was "
            "liquidated and stopped trading. CAGR is -100 %, and Sharpe and Sortino are "
            "blank: a book that lost its capital has no risk-adjusted return. A gross cap "
            "(--max-gross) or a drawdown stop limits the leverage that led there.")


_EXTRA = {
    # the rows =MNVH_BACKTEST shows too, under its labels (BACKTEST_EXTRA); the mean rho
    # is of the prices traded
    "risk_events": BACKTEST_EXTRA["risk_events"],
    "mean_rho": BACKTEST_EXTRA["mean_rho"],
    "check_identity": "Ledger identity residual (max rel., recomputed)",
    # the engine's own residual (BacktestResult.identity_residual)
    "check_engine_identity": BACKTEST_EXTRA["identity_residual"],
    "check_nav": "NAV = cash + sum q p residual",
    "check_mtm": "MTM residual",
}


def _plot(path: Path, dates, navs: dict[str, np.ndarray], gross: np.ndarray,
          nav_main: np.ndarray, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 7.5), dpi=110)
    FigureCanvasAgg(fig)
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1, 1]})
    for name, nav in navs.items():
        ax1.plot(dates, nav, lw=1.1, label=name)
    ax1.set_yscale("log")
    ax1.set_ylabel("NAV (log scale)")
    ax1.set_title(title)
    ax1.legend(loc="upper left", fontsize=8)
    ax1.grid(alpha=0.3)
    dd = nav_main / np.maximum.accumulate(nav_main) - 1
    ax2.fill_between(dates, dd * 100, 0, color="tab:red", alpha=0.4)
    ax2.set_ylabel("drawdown %")
    ax2.grid(alpha=0.3)
    ax3.plot(dates, gross / nav_main, color="tab:gray", lw=0.8)
    ax3.set_ylabel("gross / NAV")
    ax3.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def _edge_by_year(prices: pd.DataFrame, res: BacktestResult, inputs: StrategyInputs,
                  cfg: MNVHConfig) -> pd.DataFrame:
    p = prices.to_numpy()
    edge = expected_edge(p, inputs.weights, beta=cfg.beta, nav=res.nav, beta_mode=cfg.beta_mode,
                         cost_rate=cfg.fees.linear_rate, window=252, min_periods=60)
    scale = np.ones(len(p)) if inputs.beta_scale is None else inputs.beta_scale
    nav = np.asarray(res.nav, dtype=float)
    frame = pd.DataFrame({
        "rho": edge.rho, "xs_var": edge.xs_var,
        "expected_gross": edge.gross * scale, "expected_cost": edge.cost * scale,
        "expected_net": edge.net * scale, "realised_pnl": res.pnl,
        # NAV before each bar's PnL (the previous bar's close; C_0 on bar 0), so that a year's
        # start NAV is the previous year's last NAV and start + realised = next year's start.
        "nav_before": np.concatenate([nav[:1], nav[:-1]]),
    }, index=prices.index)
    if isinstance(frame.index, pd.DatetimeIndex):
        key = frame.index.year
    else:  # no dates: blocks of one year of bars, numbered from 0
        key = np.arange(len(frame)) // int(cfg.fees.periods_per_year)
    g = frame.groupby(key)
    out = pd.DataFrame({
        "mean_rho": g["rho"].mean(),
        "mean_xs_var": g["xs_var"].mean(),
        # eq. 4 is an expectation for the next step: sum the per-bar values known at t
        "expected_gross_pnl": g["expected_gross"].sum(),
        "expected_signal_cost": g["expected_cost"].sum(),
        "expected_net_pnl": g["expected_net"].sum(),
        "realised_pnl": g["realised_pnl"].sum(),
        "start_nav": g["nav_before"].first(),
    })
    out.index.name = "year"
    return out


def write_backtest_report(
    prices: pd.DataFrame,
    config: MNVHConfig,
    outdir: Path,
    *,
    scheme: str | np.ndarray = "equal",
    benchmark: pd.Series | None = None,
    hedge: bool = False,
    throttle: bool = False,
    xlsx: bool = True,
    ablation: dict | None = None,
    walkforward: dict | None = None,
    progress: Callable[[str, float | None], None] | None = None,
    echo: bool = True,
) -> BacktestReport:
    """Run one backtest with its checks and write the report files into ``outdir``.

    Parameters
    ----------
    prices : DataFrame
        T x N prices, dates as index, tickers as columns.
    config : MNVHConfig
    outdir : Path
        Folder to write into (created).
    benchmark : Series, optional
        Benchmark prices on the same dates (metrics, hedge, the chart).
    ablation, walkforward : dict, optional
        Keyword arguments of :func:`ablation_grid` / :func:`walk_forward`
        (grids); omitted means not run.
    """
    prog = progress or (lambda msg, frac=None: None)
    outdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    p = prices.to_numpy(dtype=float)
    bench = None if benchmark is None else benchmark.to_numpy(dtype=float)
    tickers = [str(c) for c in prices.columns]
    files: list[Path] = []
    log: list[str] = []

    prog("building weights and estimators", 0.05)
    inputs = build_inputs(p, scheme, benchmark=bench, hedge=hedge, throttle=throttle)
    prog("running the backtest (full ledger)", 0.15)
    t1 = time.perf_counter()
    res = run_strategy(p, config, inputs)
    t_run = time.perf_counter() - t1
    prog("verifying the ledger identity on every bar", 0.3)
    checks = verify_ledger(res, p)
    # "no trading costs": no commission, fixed fee or spread; financing (cash interest and
    # the borrow fee on shorts) is a holding cost and stays
    free = replace(config, fees=FeeModel(periods_per_year=config.fees.periods_per_year,
                                         cash_rate=config.fees.cash_rate,
                                         debit_rate=config.fees.debit_rate,
                                         borrow_rate=config.fees.borrow_rate))
    res_free = run_strategy(p, free, inputs)
    ppy = float(config.fees.periods_per_year)
    m_main = backtest_metrics(res, p, benchmark=bench, periods_per_year=ppy)
    m_free = backtest_metrics(res_free, p, benchmark=bench, periods_per_year=ppy)
    m_main["risk_events"] = float(len(res.risk_events))
    m_free["risk_events"] = float(len(res_free.risk_events))
    m_main["mean_rho"] = m_free["mean_rho"] = mean_rho(p, inputs.weights)
    for k in ("identity", "engine_identity", "nav", "mtm"):
        m_main[f"check_{k}"] = checks[k]
    cols = {"MNVH": m_main, "MNVH, no trading costs": m_free}
    if bench is not None:
        cols["Benchmark (buy and hold)"] = performance_metrics(  # the same rf as the MNVH
            config.cash0 * bench / bench[0], periods_per_year=ppy, rf=config.fees.cash_rate,
            benchmark=bench)
    keys = list(METRICS) + list(_EXTRA)
    table = pd.DataFrame({name: [m.get(k, np.nan) for k in keys] for name, m in cols.items()},
                         index=keys)
    table.index.name = "metric"
    out = table.copy()
    out.insert(0, "label", [({**METRICS, **_EXTRA})[k] for k in keys])
    path = outdir / "metrics.csv"
    out.to_csv(path, **CSV_OUT)
    files.append(path)
    text = format_table(table)
    ruin = ruin_note(res.nav, prices.index, "MNVH")
    if ruin:
        text += "\n\n" + ruin
    if echo:
        print(text)

    prog("writing the ledger, lots and risk events", 0.4)
    ledger = res.to_frame(index=prices.index, tickers=tickers)
    path = outdir / "ledger.csv"
    ledger.to_csv(path, **CSV_OUT)
    files.append(path)
    lots = res.lot_table(tickers=tickers)
    path = outdir / "lots.csv"
    lots.to_csv(path, index=False, **CSV_OUT)
    files.append(path)
    ev = res.events_frame()
    if len(ev):
        ev.insert(1, "date", prices.index[ev["bar"].to_numpy()])
    path = outdir / "risk_events.csv"
    ev.to_csv(path, index=False, **CSV_OUT)
    files.append(path)
    if xlsx:
        prog("writing ledger.xlsx", 0.5)
        path = outdir / "ledger.xlsx"
        from pyxl.workbook.exact_floats import install

        install()  # numbers to the last bit (openpyxl alone keeps 16 digits)
        with pd.ExcelWriter(path, engine="openpyxl") as xw_:
            out.to_excel(xw_, sheet_name="metrics")
            scalar = ledger.loc[:, [c for c in ledger.columns if ":" not in c]]
            scalar.to_excel(xw_, sheet_name="ledger")
            lots.to_excel(xw_, sheet_name="lots", index=False)
        files.append(path)

    prog("eq. 4 expected edge vs realised PnL", 0.55)
    edge = _edge_by_year(prices, res, inputs, config)
    path = outdir / "edge_by_year.csv"
    edge.to_csv(path, **CSV_OUT)  # every digit: currency to the last yen or cent
    files.append(path)

    prog("equity curve", 0.6)
    navs = {"MNVH": res.nav, "MNVH, no trading costs": res_free.nav}
    if bench is not None:
        navs["Benchmark (buy and hold)"] = config.cash0 * bench / bench[0]
    path = outdir / "equity_curve.png"
    _plot(path, prices.index, navs, res.gross, res.nav,
          f"MNVH: lam={config.lam:g}, beta={config.beta:g} ({config.beta_mode}), "
          f"weights={scheme if isinstance(scheme, str) else 'user'}, hedge={hedge}")
    files.append(path)

    if ablation:
        prog("ablation grid", 0.65)
        tab = ablation_grid(p, config, benchmark=bench, **ablation)
        path = outdir / "ablation.csv"
        tab.to_csv(path, index=False, float_format="%.6g", **CSV_OUT)
        files.append(path)
        log.append(f"ablation: {len(tab)} points")
    if walkforward:
        prog("walk-forward", 0.8)
        wf = walk_forward(p, config, benchmark=bench, **walkforward)
        folds = wf.folds.copy()
        folds.insert(1, "oos_first_date", prices.index[folds["oos_first"].to_numpy()])
        folds.insert(2, "oos_last_date", prices.index[folds["oos_last"].to_numpy()])
        path = outdir / "walkforward.csv"
        folds.to_csv(path, index=False, float_format="%.6g", **CSV_OUT)
        files.append(path)
        oos = pd.DataFrame({"metric": list(wf.metrics), "label": [METRICS[k] for k in wf.metrics],
                            "oos": list(wf.metrics.values())})
        path = outdir / "walkforward_oos_metrics.csv"
        oos.to_csv(path, index=False, **CSV_OUT)
        files.append(path)
        log.append(f"walk-forward: {len(folds)} folds, OOS Sharpe {wf.metrics['sharpe']:.3f}, "
                   f"OOS CAGR {wf.metrics['cagr'] * 100:.2f} %")

    log[:0] = [
        f"sample: {prices.index[0]} .. {prices.index[-1]}, {p.shape[0]} bars x {p.shape[1]} assets",
        f"config: {config}",
        f"weights: {scheme if isinstance(scheme, str) else 'user'}, hedge={hedge}, "
        f"throttle={throttle}",
        f"backtest (full ledger) took {t_run:.3f} s",
        "ledger checks, max relative residual over all bars (tolerance "
        f"{LEDGER_TOL:g}): " + ", ".join(f"{k}={v:.2e}" for k, v in checks.items()),
        f"risk events: {len(res.risk_events)}",
    ]
    log.append(f"total report time {time.perf_counter() - t0:.1f} s")
    path = outdir / "run_log.txt"
    path.write_text("\n".join(log) + "\n\n" + text + "\n", encoding="utf-8")
    files.append(path)
    prog("done", 1.0)
    return BacktestReport(files, table, checks, res)


def run_demo(outdir: Path, progress: Callable[[str, float | None], None]) -> list[Path]:
    """``pyxl demo`` section: MNVH on 20 S&P 500 stocks, 2005-2022, with the index as benchmark.

    Defaults of :func:`~pyxl.core.mnvh.ablation.research_config` (lam 0.9, the
    engine's default beta in NAV mode, 5 bp commission + 1 bp half spread),
    equal weights, gross exposure capped at 3x NAV.  Also a 54-point ablation
    and a walk-forward (3 years in sample, 1 year out of sample).
    """
    from pyxl.data import load_sp500_index, load_sp500_prices

    progress("loading the bundled S&P 500 data", 0.0)
    prices = load_sp500_prices(start=DEMO_START)
    bench = load_sp500_index(start=DEMO_START).reindex(prices.index)
    config = research_config(max_gross=3.0)
    beta0 = config.beta
    rep = write_backtest_report(
        prices, config, Path(outdir) / "mnvh", scheme="equal", benchmark=bench,
        ablation={"lams": [0.8, 0.9, 0.95], "betas": [beta0 / 4, beta0, beta0 * 2],
                  "schemes": ["equal", "invvol", "markowitz"], "hedges": [False, True]},
        walkforward={"lams": [0.8, 0.9, 0.95], "betas": [beta0 / 4, beta0, beta0 * 2],
                     "schemes": ["equal", "invvol"], "is_periods": 756, "oos_periods": 252},
        progress=progress,
    )
    return rep.files
