"""Excel formulas for the Kelly leverage toolkit (seed 003).

Units: annual decimals (0.085 = 8.5 %); ``mu`` is the arithmetic expected
return, growth rates are log (continuously compounded).  KELLY_SCENARIO works
per period of its scenarios (rf per period).  Every formula converts its cells
with :mod:`pyxl.xl.convert` and calls :mod:`pyxl.core.kelly`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xlwings as xw

from pyxl.core import kelly as core
from pyxl.errors import InputError
from pyxl.xl import handles
from pyxl.xl.cache import memoize
from pyxl.xl.convert import (
    drop_date_column,
    excel_formula,
    is_missing,
    refuse_dates_across,
    table,
    to_bool,
    to_choice,
    to_float,
    to_int,
    to_labelled_matrix,
    to_vector,
    trim_range,
    vector_like,
    xl_arg,
)

__all__ = [
    "KELLY_LEVERAGE",
    "KELLY_GROWTH",
    "KELLY_WEIGHTS",
    "KELLY_SCENARIO",
    "KELLY_HORIZON",
    "KELLY_TABLE",
]

_MU = "Arithmetic expected annual return, decimal (0.085 = 8.5 %)."
_SIGMA = "Annual volatility, decimal (0.182 = 18.2 %), > 0 and < 5."
_RF = "Annual risk-free / financing rate, decimal (0.01 = 1 %), between -1 and 1."


#: Annual inputs at or beyond these bounds are percents typed as numbers (18.2 for
#: 18.2 %), not data: a volatility of 500 % a year (the most volatile listed assets run
#: at 100-200 %) or a risk-free rate of 100 % a year.  Refusing them names the mistake;
#: accepting them returned, for the seed's S&P 500 row typed in percent, a Kelly
#: leverage of 0.023 instead of 2.26.  ``=KELLY_SCENARIO`` refuses rf >= 100 % per period
#: and ``=MBB_RECOLOR`` a history in percent for the same reason.
SIGMA_MAX = 5.0
RF_MAX = 1.0
_DECIMALS = "enter annual decimals (0.182 = 18.2 %)"


def _sigma(value: Any) -> float:
    x = to_float(value, "sigma", lo=0.0, lo_open=True)
    if x >= SIGMA_MAX:
        raise InputError("sigma", f"must be < {SIGMA_MAX:g}, got {x:g}", _DECIMALS)
    return x


def _rf(value: Any) -> float:
    x = to_float(value, "rf")
    if not -RF_MAX < x < RF_MAX:
        op = f"< {RF_MAX:g}" if x > 0 else f"> {-RF_MAX:g}"
        raise InputError("rf", f"must be {op}, got {x:g}", "enter an annual decimal (0.01 = 1 %)")
    return x


def _optional_float(value: Any, name: str, **kw: Any) -> float | None:
    return None if is_missing(value) else to_float(value, name, **kw)


@xw.func(category="PyXL")
@xl_arg("mu", doc=_MU)
@xl_arg("sigma", doc=_SIGMA)
@xl_arg("rf", doc=_RF)
@xl_arg("fraction", doc="Fraction of full Kelly, default 1 (0.5 = half Kelly).")
@excel_formula
def KELLY_LEVERAGE(mu, sigma, rf, fraction=1.0):
    """Kelly leverage fraction*(mu-rf)/sigma^2 (annual decimals; arithmetic mu)."""
    return core.kelly_leverage(
        to_float(mu, "mu"), _sigma(sigma), _rf(rf),
        to_float(fraction, "fraction", default=1.0, lo=0.0, lo_open=True),
    )


@xw.func(category="PyXL")
@xl_arg("n", ndim=2, doc="Leverage, one cell or a row/column of leverages (1 = unlevered).")
@xl_arg("mu", doc=_MU)
@xl_arg("sigma", doc=_SIGMA)
@xl_arg("rf", doc=_RF)
@xl_arg("model", ndim=2, doc='"approx" (default) rf+n(mu-rf)-n^2 sigma^2/2; exact "lognormal" or '
        '"normal"; or a column of historical returns (exact, empirical).')
@xl_arg("periods", doc="Rebalances a year for the exact models (= periods a year of the "
        "returns), default 1 (12 monthly, 252 daily).")
@excel_formula
def KELLY_GROWTH(n, mu, sigma, rf, model="approx", periods=1):
    """Annual log growth at leverage n: approximation, exact lognormal/normal, or exact on data."""
    lev = to_vector(n, "n")
    r = _rf(rf)
    per = to_int(periods, "periods", default=1, lo=1, hi=100_000)
    rows = model if isinstance(model, (list, tuple)) else [[model]]
    if sum(len(row) for row in rows) > 1:
        # empirical: periods * mean ln(1 + rf_p + n (R - rf_p)); mu and sigma are not used
        returns = to_vector(model, "model")
        # -100 % (a default) is a valid simple return: leverage below 1 survives it
        if returns.size < 2 or np.any(returns < -1):
            raise InputError("model", "needs >= 2 simple returns, each >= -100 %",
                             "select a column of period returns")
        g = per * np.atleast_1d(core.growth_scenarios(lev, returns, math.expm1(r / per)))
    else:
        m, s = to_float(mu, "mu"), _sigma(sigma)
        kind = to_choice(model, "model", ("approx", *core.DISTRIBUTIONS), default="approx")
        if kind == "approx":
            g = np.asarray(core.growth_approx(lev, m, s, r), dtype=float).ravel()
        else:
            g = np.array([core.growth_exact(x, m, s, r, kind, per) for x in lev])
    if np.any(np.isneginf(g)):
        bad = lev[np.isneginf(g)][0]
        raise InputError("n", f"leverage {bad:g} can wipe out the account in one period "
                         "(growth -inf)", "lower n or rebalance more often")
    if lev.size == 1:
        return float(g[0])
    return vector_like(g, n)


def _caps(max_weight: Any, n: int) -> np.ndarray | None:
    """Per-asset caps on |w_i|: one cell for all, or one per asset (blank = no cap, NaN)."""
    if is_missing(max_weight):
        return None
    caps = to_vector(max_weight, "max_weight", nonnegative=True, allow_blank=True)
    if caps.size == 1:
        return np.full(n, caps[0])
    if caps.size != n:
        raise InputError("max_weight", f"has {caps.size} values, expected 1 or {n}",
                         "one cap, or one per asset")
    return caps


@memoize(maxsize=32)
def _weights(mu, cov, rf, fraction, max_leverage, long_only, max_weight, budget):
    return core.kelly_weights(mu, cov, rf, fraction, max_leverage, long_only, max_weight, budget)


@xw.func(category="PyXL")
@xl_arg("mu", ndim=2, doc="Arithmetic expected annual returns, one per asset (row or column).")
@xl_arg("cov", ndim=2, doc="Annual covariance matrix of returns (N x N, PSD).")
@xl_arg("rf", doc=_RF)
@xl_arg("fraction", doc="Fraction of full Kelly, default 1.")
@xl_arg("max_leverage", doc="Cap on gross leverage sum|w|; blank = none.")
@xl_arg("long_only", doc="TRUE for w >= 0; default FALSE.")
@xl_arg("max_weight", ndim=2, doc="Cap on each |w_i|: one cell or one per asset; blank = none.")
@xl_arg("budget", doc="Force sum(w) = budget (1 = fully invested, no borrowing); blank = free.")
@excel_formula
def KELLY_WEIGHTS(mu, cov, rf, fraction=1.0, max_leverage=None, long_only=False,
                  max_weight=None, budget=None):
    """Kelly weights fraction*inv(cov)(mu-rf), or constrained by cvxpy; per unit of equity."""
    m = to_vector(mu, "mu")
    c, _names = to_labelled_matrix(cov, "cov")
    if c.shape != (m.size, m.size):  # the line names mu too: either range may be the wrong one
        raise InputError("cov", f"is {c.shape[0]}x{c.shape[1]}, expected {m.size}x{m.size}",
                         f"one row and column per value of mu (mu has {m.size})")
    big = np.diag(c) >= SIGMA_MAX * SIGMA_MAX
    if np.any(big):
        i = int(np.argmax(big))
        raise InputError("cov", f"variance {c[i, i]:g} of asset {i + 1} is a volatility of "
                         f"{math.sqrt(c[i, i]):g} (>= {SIGMA_MAX:g}) a year: percents typed as "
                         "numbers", "enter annual decimals (0.0331 for 18.2 % squared)")
    lev = _optional_float(max_leverage, "max_leverage", lo=0.0)
    caps = _caps(max_weight, m.size)
    w = _weights(
        m, c, _rf(rf), to_float(fraction, "fraction", default=1.0, lo=0.0,
                                           lo_open=True),
        lev, to_bool(long_only, "long_only", default=False), caps,
        _optional_float(budget, "budget"),
    )
    return vector_like(w, mu)


def _scenario_array(returns: Any) -> np.ndarray:
    """Returns from a range, or from a scenario handle (array, or object with .returns/.paths)."""
    text = handles.cell_text(returns)
    if text is not None:
        obj = handles.get(text, "scn", "returns")
        for attr in ("returns", "paths"):
            if not isinstance(obj, np.ndarray):
                if isinstance(obj, dict) and obj.get(attr) is not None:
                    obj = obj[attr]
                elif getattr(obj, attr, None) is not None:
                    obj = getattr(obj, attr)
        if hasattr(obj, "to_numpy") and not isinstance(obj, np.ndarray):
            obj = obj.to_numpy()   # a pandas DataFrame of returns
        if not isinstance(obj, (np.ndarray, list)) and hasattr(obj, "paths"):
            raise InputError("returns", "the scenario set kept no paths (too large)",
                             "make it with fewer paths or a shorter horizon")
        arr = np.asarray(obj, dtype=float) if isinstance(obj, (np.ndarray, list)) else None
        if arr is None or arr.ndim not in (1, 2, 3):
            raise InputError("returns", "handle holds no array of returns",
                             "point to a scenario set of returns")
        # paths (n_paths, T, N) are pooled: every period of every path is one scenario
        return arr.reshape(-1, arr.shape[-1]) if arr.ndim == 3 else arr.reshape(arr.shape[0], -1)
    returns = trim_range(returns)  # a whole-column reference: blank rows and columns at the end
    refuse_dates_across(returns, "returns")
    arr, _labels = to_labelled_matrix(drop_date_column(returns, "returns"), "returns",
                                      min_rows=2)
    return arr


@memoize(maxsize=16)
def _scenario(r, rf, max_leverage, long_only, max_weight, budget):
    return core.kelly_scenario(r, rf, max_leverage, long_only, max_weight, budget)


@xw.func(category="PyXL")
@xl_arg("returns", ndim=2, doc="Simple returns per period, one row per scenario, one column per "
        "asset (header row and date column allowed), or a pyxl:scn# handle.")
@xl_arg("rf", doc="Risk-free rate PER PERIOD of the scenarios, default 0.")
@xl_arg("max_leverage", doc="Cap on gross leverage sum|w|; blank = none.")
@xl_arg("long_only", doc="TRUE for w >= 0; default FALSE.")
@xl_arg("max_weight", ndim=2, doc="Cap on each |w_i|; blank = none.")
@xl_arg("budget", doc="Force sum(w) = budget; blank = free.")
@excel_formula
def KELLY_SCENARIO(returns, rf=0.0, max_leverage=None, long_only=False, max_weight=None,
                   budget=None):
    """Exact Kelly weights on scenarios: max mean ln(1+rf+w'(R-rf)), no scenario ruined. A row."""
    r = _scenario_array(returns)
    if not np.all(np.isfinite(r)):
        raise InputError("returns", "contains NaN or infinite values", "clean the data")
    caps = _caps(max_weight, r.shape[1])
    w = _scenario(
        np.ascontiguousarray(r),
        # 100 % or more per period is a percent typed as a number (5 for 5 %)
        to_float(rf, "rf", default=0.0, lo=-1.0, lo_open=True, hi=1.0, hi_open=True,
                 fix="enter a decimal rate per period (0.001 = 0.1 %)"),
        _optional_float(max_leverage, "max_leverage", lo=0.0),
        to_bool(long_only, "long_only", default=False),
        caps, _optional_float(budget, "budget"),
    )
    return [list(map(float, w))]


@xw.func(category="PyXL")
@xl_arg("mu", doc=_MU + " Arithmetic; a log excess m converts as mu-rf = m + sigma^2/2.")
@xl_arg("sigma", doc=_SIGMA)
@xl_arg("rf", doc=_RF)
@xl_arg("confidence", doc="Required probability of being ahead, default 0.95.")
@xl_arg("vs_leverage", doc="Leverage to beat: 0 = cash (default), 1 = the unlevered portfolio.")
@xl_arg("leverage", doc="Leverage of the strategy; default the Kelly leverage (mu-rf)/sigma^2.")
@excel_formula
def KELLY_HORIZON(mu, sigma, rf, confidence=0.95, vs_leverage=0.0, leverage=None):
    """Years to be confidence-sure leverage beats vs_leverage (GBM): (z*vol/drift)^2."""
    return core.horizon_years(
        to_float(mu, "mu"), _sigma(sigma), _rf(rf),
        to_float(confidence, "confidence", default=0.95, lo=0.5, hi=1.0, lo_open=True,
                 hi_open=True),
        to_float(vs_leverage, "vs_leverage", default=0.0),
        _optional_float(leverage, "leverage"),
    )


_TABLE_HEADER = ["Kelly fraction", "leverage", "log growth", "growth kept", "volatility",
                 "P(ever <= drawdown)", "years to double"]


@xw.func(category="PyXL")
@xl_arg("mu", doc=_MU)
@xl_arg("sigma", doc=_SIGMA)
@xl_arg("rf", doc=_RF)
@xl_arg("drawdown", doc="Wealth level as a fraction of the start, default 0.5 (halving).")
@excel_formula
def KELLY_TABLE(mu, sigma, rf, drawdown=0.5):
    """Fractional Kelly 1/4..1: leverage, growth, growth kept, vol, P(ever<=drawdown), doubling."""
    rows = core.fractional_table(
        to_float(mu, "mu"), _sigma(sigma), _rf(rf),
        to_float(drawdown, "drawdown", default=0.5, lo=0.0, hi=1.0, lo_open=True, hi_open=True),
    )
    labels = ["1/4 Kelly", "1/2 Kelly", "3/4 Kelly", "full Kelly"]
    values = [[r.leverage, r.growth, r.growth_kept, r.volatility, r.prob_drawdown,
               r.years_to_double if np.isfinite(r.years_to_double) else float("nan")]
              for r in rows]
    return table(labels, values, header=_TABLE_HEADER)
