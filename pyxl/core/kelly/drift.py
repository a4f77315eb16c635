"""Leverage drift: a levered book rebalanced daily, monthly, ... with costs and financing.

Between rebalances the exposure ``E`` moves with the asset and the cash
(negative when borrowing) accrues at ``rf``, so the leverage ``E / W`` drifts:
it falls after gains and rises after losses.  At each rebalance the book
trades back to ``target * W`` and pays ``cost`` per unit of traded notional.
Wealth identity at every step: ``W = E + C``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from pyxl.errors import InputError

__all__ = ["DriftResult", "simulate_leverage", "rebalance_mask", "warmup", "PERIODS_PER_YEAR"]

PERIODS_PER_YEAR = 252.0


@njit(cache=True)
def _simulate(returns, rf_period, target, rebalance, cost):  # pragma: no cover - numba
    t_len = returns.shape[0]
    wealth = np.empty(t_len + 1)
    lev = np.empty(t_len + 1)
    drifted = np.empty(t_len + 1)
    wealth[0] = 1.0
    lev[0] = target
    drifted[0] = target
    e = target
    c = 1.0 - target
    traded = 0.0
    fees = 0.0
    ruined = -1
    for t in range(t_len):
        e = e * (1.0 + returns[t])
        c = c * (1.0 + rf_period)
        w = e + c
        if w <= 0.0:
            ruined = t
            for k in range(t + 1, t_len + 1):
                wealth[k] = 0.0
                lev[k] = np.nan
                drifted[k] = np.nan
            break
        drifted[t + 1] = e / w  # moved with the market, before any trade
        if rebalance[t]:
            # trade to target leverage after paying the fee: e' = target * (w - fee)
            # with fee = cost * |e' - e|; solve for the sign of the trade
            up = (target * (w + cost * e)) / (1.0 + cost * target)
            if up >= e:
                e_new = up
            else:
                e_new = (target * (w - cost * e)) / (1.0 - cost * target)
                if e_new > e:  # cannot happen for cost * target < 1; keep it safe
                    e_new = e
            fee = cost * abs(e_new - e)
            traded += abs(e_new - e) / w
            fees += fee / w
            c = c - (e_new - e) - fee
            e = e_new
            w = e + c
        wealth[t + 1] = w
        lev[t + 1] = e / w
    return wealth, lev, drifted, traded, fees, ruined


@dataclass(frozen=True)
class DriftResult:
    """Outcome of :func:`simulate_leverage` (wealth starts at 1)."""

    wealth: np.ndarray          #: wealth after each period, length T + 1
    leverage: np.ndarray        #: exposure / wealth after each period (after any rebalance)
    growth: float               #: realised annual log growth ln(W_T) / years (-inf if ruined)
    turnover: float             #: traded notional / wealth, per year
    fees: float                 #: fees / wealth, per year (log-growth drag is about this)
    ruined_at: int              #: index of the period that wiped the book out, -1 if never
    years: float
    #: exposure / wealth after each period's market move, before that period's rebalance
    #: (length T + 1; equals :attr:`leverage` where no trade is made): the drift itself
    leverage_before: np.ndarray


def rebalance_mask(t_len: int, every: int) -> np.ndarray:
    """Rebalance after every ``every``-th period (1 = every period)."""
    if every < 1:
        raise InputError("every", f"must be >= 1, got {every}", "e.g. 1 daily, 21 monthly")
    mask = np.zeros(t_len, dtype=np.bool_)
    mask[every - 1::every] = True
    return mask


def simulate_leverage(
    returns: np.ndarray, target: float, rebalance: np.ndarray, rf: float = 0.0,
    cost: float = 0.0, periods_per_year: float = PERIODS_PER_YEAR,
) -> DriftResult:
    """Simulate a book held at ``target`` leverage, rebalanced where ``rebalance`` is True.

    Parameters
    ----------
    returns : (T,) array
        Simple returns of the unlevered asset per period.
    target : float
        Target leverage (exposure / equity).
    rebalance : (T,) bool array
        True where the book trades back to the target at the end of the period.
    rf : float
        Annual financing / deposit rate (continuously compounded); per period
        ``exp(rf / periods_per_year) - 1``.
    cost : float
        Proportional cost per unit of traded notional (0.0005 = 5 bp); needs
        ``cost * |target| < 1``.
    periods_per_year : float
        Periods per year of ``returns`` (252 daily), > 0.

    Returns
    -------
    DriftResult

    Raises
    ------
    InputError
        Naming ``returns``, ``rebalance``, ``target``, ``rf``, ``cost`` or
        ``periods_per_year``.
    """
    r = np.ascontiguousarray(returns, dtype=np.float64).ravel()
    mask = np.ascontiguousarray(rebalance, dtype=np.bool_).ravel()
    if r.size == 0:
        raise InputError("returns", "is empty", "give at least one period's return")
    if not np.all(np.isfinite(r)):
        raise InputError("returns", "contains NaN or infinite values", "clean the history")
    if mask.shape != r.shape:
        raise InputError("rebalance", f"has {mask.size} flags for {r.size} returns", "align them")
    for name, v in (("target", target), ("rf", rf), ("cost", cost)):
        if not math.isfinite(v):
            raise InputError(name, f"must be a finite number, got {v}", "enter a decimal")
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise InputError("periods_per_year", f"must be > 0, got {periods_per_year}",
                         "252 for daily returns")
    if not 0 <= cost:
        raise InputError("cost", f"{cost:g} is negative", "enter e.g. 0.0005 for 5 bp")
    if not cost * abs(target) < 1:
        # the fee on the rebalancing trade, cost * |target| per unit of wealth moved,
        # would reach the wealth itself: the trade to the target has no solution
        raise InputError("cost", f"{cost:g} x target leverage {abs(target):g} is >= 1",
                         "lower cost or target so that cost x |target| < 1")
    rfp = math.expm1(rf / periods_per_year)
    wealth, lev, drifted, traded, fees, ruined = _simulate(r, rfp, float(target), mask,
                                                           float(cost))
    years = r.size / periods_per_year
    growth = math.log(wealth[-1]) / years if wealth[-1] > 0 else -math.inf
    return DriftResult(wealth, lev, growth, traded / years, fees / years, int(ruined), years,
                       drifted)


def warmup() -> None:
    """Compile the simulation kernel on a tiny input."""
    simulate_leverage(np.array([0.01, -0.01]), 2.0, np.array([True, True]), 0.01, 0.001)
