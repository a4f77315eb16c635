"""Kelly demo/report on the bundled S&P 500 index (seed 003).

Estimates the index's arithmetic mu and sigma from daily returns, then writes

- ``summary.md``: inputs, Kelly leverage, horizons, the drift table in words;
- ``growth_vs_leverage.csv`` / ``.png``: the approximation
  ``rf + n(mu-rf) - n^2 sigma^2/2`` beside the *exact* mean log growth on the
  historical daily and monthly returns and on a lognormal year;
- ``fractional_table.csv``: 1/4, 1/2, 3/4, full Kelly (growth kept, volatility,
  probability of ever halving, years to double);
- ``horizon.csv``: years to be 95 % sure Kelly / half Kelly beats cash and the index;
- ``leverage_drift.csv``: books held at target leverage, rebalanced daily /
  monthly / never, with costs and financing at rf: realised vs theoretical growth, turnover.

Assumptions (stated in the summary): the index is a *price* index (no
dividends); the bundled data has no rate series, so ``rf`` is a constant
(default 2.5 %, about the 1990-2022 average 3-month T-bill yield) used both
for deposits and for borrowing.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pyxl.core import kelly as K
from pyxl.numparse import CSV_OUT
from pyxl.progress import ProgressFn, null_progress

__all__ = [
    "run_demo",
    "estimate",
    "month_end_mask",
    "growth_curve",
    "drift_table",
    "horizon_table",
    "fraction_frame",
    "plot_growth",
    "DEFAULT_RF",
    "DEFAULT_COST",
]

DEFAULT_RF = 0.025
DEFAULT_COST = 0.0005   # 5 bp of traded notional
DAYS = 252.0


def estimate(prices: pd.Series) -> tuple[np.ndarray, float, float]:
    """Daily simple returns and annualised arithmetic mean and volatility (x252, x sqrt 252)."""
    p = prices.dropna().to_numpy(dtype=float)
    r = p[1:] / p[:-1] - 1.0
    return r, float(r.mean() * DAYS), float(r.std(ddof=1) * math.sqrt(DAYS))


def month_end_mask(dates: pd.DatetimeIndex) -> np.ndarray:
    """For returns dated ``dates[1:]``: True where that day is the last trading day of its month."""
    d = pd.DatetimeIndex(dates)[1:]
    nxt = np.append(d.month[1:], -1)
    return np.asarray(d.month != nxt, dtype=bool)


def _period_returns(prices: pd.Series, rule: str) -> np.ndarray:
    p = prices.resample(rule).last().dropna().to_numpy(dtype=float)
    return p[1:] / p[:-1] - 1.0


def growth_curve(prices: pd.Series, rf: float, levers: np.ndarray) -> pd.DataFrame:
    """Annual log growth per leverage: approximation vs exact on history and on a lognormal year."""
    r, mu, sigma = estimate(prices)
    monthly = _period_returns(prices, "ME")
    out = {
        "leverage": levers,
        "approx": K.growth_approx(levers, mu, sigma, rf),
        "exact_daily_history": DAYS * K.growth_scenarios(levers, r, math.expm1(rf / DAYS)),
        "exact_monthly_history": 12 * K.growth_scenarios(levers, monthly, math.expm1(rf / 12)),
        "exact_lognormal_monthly": [K.growth_exact(n, mu, sigma, rf, "lognormal", 12)
                                    for n in levers],
        "exact_lognormal_yearly": [K.growth_exact(n, mu, sigma, rf, "lognormal", 1)
                                   for n in levers],
    }
    frame = pd.DataFrame(out)
    return frame.replace(-np.inf, np.nan)


def plot_growth(curve: pd.DataFrame, n_star: float, path: Path, title: str) -> Path:
    """Growth vs leverage chart; a missing point means some period wipes the book out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8))
    x = curve["leverage"]
    ax.plot(x, 100 * curve["approx"], "k-", lw=2, label="approximation rf+n(mu-rf)-n²σ²/2")
    ax.plot(x, 100 * curve["exact_daily_history"], "-", label="exact, daily history (rebal. daily)")
    ax.plot(x, 100 * curve["exact_monthly_history"], "-",
            label="exact, monthly history (rebal. monthly)")
    ax.plot(x, 100 * curve["exact_lognormal_monthly"], "--", label="exact, lognormal, monthly")
    ax.plot(x, 100 * curve["exact_lognormal_yearly"], ":", label="exact, lognormal, yearly")
    ax.axvline(n_star, color="grey", lw=1)
    ax.axhline(0, color="grey", lw=0.5)
    lo = np.nanmin(100 * curve["approx"])
    ax.set_ylim(max(lo, -40), None)
    ax.text(n_star, ax.get_ylim()[0], f" Kelly n* = {n_star:.2f}", va="bottom", fontsize=8)
    ax.set_xlabel("leverage n (exposure / equity)")
    ax.set_ylabel("log growth, % a year")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fraction_frame(mu: float, sigma: float, rf: float, drawdown: float = 0.5) -> pd.DataFrame:
    """The fractional-Kelly risk table as a DataFrame."""
    rows = K.fractional_table(mu, sigma, rf, drawdown)
    return pd.DataFrame(
        {
            "kelly_fraction": [r.fraction for r in rows],
            "leverage": [r.leverage for r in rows],
            "log_growth": [r.growth for r in rows],
            "growth_kept": [r.growth_kept for r in rows],
            "volatility": [r.volatility for r in rows],
            f"p_ever_below_{drawdown:g}": [r.prob_drawdown for r in rows],
            "years_to_double": [r.years_to_double for r in rows],
        }
    )


def horizon_table(mu: float, sigma: float, rf: float, confidence: float = 0.95) -> pd.DataFrame:
    """Years to be ``confidence``-sure full / half Kelly beats cash and the unlevered index."""
    n_star = K.kelly_leverage(mu, sigma, rf)
    rows = []
    for label, n in (("full Kelly", n_star), ("half Kelly", 0.5 * n_star)):
        for vs_label, nb in (("cash", 0.0), ("unlevered index", 1.0)):
            # a leverage that never out-grows the other (growth gap <= 0, or the same
            # leverage) takes forever; any other problem is an input error and is raised
            drift, _ = K.log_wealth_gap(n, nb, mu, sigma, rf)
            if drift <= 0:  # includes n == nb (a zero gap)
                years = math.inf
            else:
                years = K.horizon_years(mu, sigma, rf, confidence, nb, n)
            rows.append({"strategy": label, "leverage": n, "versus": vs_label,
                         "confidence": confidence, "years": years})
    return pd.DataFrame(rows)


def drift_table(prices: pd.Series, rf: float, cost: float, targets: list[float]) -> pd.DataFrame:
    """Books held at each target leverage, rebalanced daily / monthly / never."""
    r, mu, sigma = estimate(prices)
    masks = {
        "daily": K.rebalance_mask(r.size, 1),
        "monthly": month_end_mask(prices.dropna().index),
        "never (buy and hold)": np.zeros(r.size, dtype=bool),
    }
    rows = []
    for target in targets:
        for name, mask in masks.items():
            res = K.simulate_leverage(r, target, mask, rf=rf, cost=cost)
            # the range the leverage drifts over between trades: measured before each
            # rebalance (after it, daily rebalancing would always show the target)
            lev = res.leverage_before[np.isfinite(res.leverage_before)]
            rows.append({
                "target": target,
                "rebalance": name,
                "realised_growth": res.growth,
                "theory_approx": K.growth_approx(target, mu, sigma, rf),
                "exact_daily_history": DAYS * K.growth_scenarios(
                    target, r, math.expm1(rf / DAYS)),
                "turnover_per_year": res.turnover,
                "fees_per_year": res.fees,
                "min_leverage": float(lev.min()) if lev.size else math.nan,
                "max_leverage": float(lev.max()) if lev.size else math.nan,
                "ruined": res.ruined_at >= 0,
            })
    return pd.DataFrame(rows)


def _fmt_pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.2f} %"


def run_demo(outdir: Path, progress: ProgressFn = null_progress, rf: float = DEFAULT_RF,
             cost: float = DEFAULT_COST) -> list[Path]:
    """Kelly report for the bundled S&P 500 index into ``outdir/kelly/``; returns files written."""
    from pyxl.data import load_sp500_index

    t0 = time.perf_counter()
    out = Path(outdir) / "kelly"
    out.mkdir(parents=True, exist_ok=True)
    progress("loading S&P 500 index", 0.0)
    prices = load_sp500_index()
    r, mu, sigma = estimate(prices)
    n_star = K.kelly_leverage(mu, sigma, rf)
    files: list[Path] = []

    progress("growth vs leverage", 0.15)
    levers = np.round(np.linspace(0.0, max(3.0 * n_star, 4.0), 61), 4)
    curve = growth_curve(prices, rf, levers)
    curve.to_csv(out / "growth_vs_leverage.csv", index=False, **CSV_OUT)
    files.append(out / "growth_vs_leverage.csv")
    span = f"{prices.index[0]:%Y-%m-%d} to {prices.index[-1]:%Y-%m-%d}"
    files.append(plot_growth(
        curve, n_star, out / "growth_vs_leverage.png",
        f"S&P 500 price index {span}: mu={mu:.2%}, sigma={sigma:.2%}, rf={rf:.2%}"))

    progress("fractional Kelly and horizon", 0.45)
    frac = fraction_frame(mu, sigma, rf)
    frac.to_csv(out / "fractional_table.csv", index=False, **CSV_OUT)
    files.append(out / "fractional_table.csv")
    hor = horizon_table(mu, sigma, rf)
    hor.to_csv(out / "horizon.csv", index=False, **CSV_OUT)
    files.append(out / "horizon.csv")

    progress("leverage drift simulation", 0.6)
    K.warmup()
    targets = sorted({1.0, 1.5, 2.0, round(0.5 * n_star, 2), round(n_star, 2)})
    drift = drift_table(prices, rf, cost, targets)
    drift.to_csv(out / "leverage_drift.csv", index=False, **CSV_OUT)
    files.append(out / "leverage_drift.csv")

    progress("summary", 0.9)
    rub_cash = K.horizon_years(0.025 + 0.18 ** 2 / 2, 0.18, 0.0)
    rub_stock = K.horizon_years(0.025 + 0.18 ** 2 / 2, 0.18, 0.0, vs_leverage=1.0)
    lines = [
        "# Kelly leverage report: S&P 500 price index",
        "",
        f"Data: {span}, {r.size} daily returns (price index, dividends excluded).",
        f"Estimated arithmetic mu = {mu:.4%}, sigma = {sigma:.4%} a year; "
        f"rf = {rf:.2%} (assumed constant), cost = {cost * 1e4:.1f} bp of traded notional.",
        "",
        f"Kelly leverage n* = (mu - rf)/sigma^2 = {n_star:.3f}; half Kelly {n_star / 2:.3f}.",
        f"Approximate growth at n*: {_fmt_pct(K.growth_approx(n_star, mu, sigma, rf))}; "
        f"exact on the daily history: "
        f"{_fmt_pct(DAYS * K.growth_scenarios(n_star, r, math.expm1(rf / DAYS)))}.",
        "",
        "## Fractional Kelly (P = probability of ever falling to half the start)",
        "",
        frac.to_string(index=False, float_format=lambda v: f"{v:.4f}"),
        "",
        "## Years to be 95 % sure of beating",
        "",
        hor.to_string(index=False, float_format=lambda v: f"{v:.4g}"),
        "",
        f"Rubinstein (1991) check (log excess 2.5 %, sigma 18 %): {rub_cash:.0f} years vs cash, "
        f"{rub_stock:,.0f} vs all-stock (seed quotes 208 and 4,700; see docs/kelly.md).",
        "",
        "## Leverage drift (realised log growth vs theory, turnover per year)",
        "",
        drift.to_string(index=False, float_format=lambda v: f"{v:.4f}"),
        "",
        f"Runtime {time.perf_counter() - t0:.1f} s.",
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    files.append(out / "summary.md")
    progress("done", 1.0)
    return files
