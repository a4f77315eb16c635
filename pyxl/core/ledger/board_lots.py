r"""Trading in whole board lots (seed 000, sec. 1: "ロット調整", lot adjustment).

The seed's contribution is to make "self-financing, fees and lot adjustment"
exact in the ledger.  Exchanges trade most equities in board lots (100 shares
in Japan since 2018, 1 share for whole-share US brokers, a contract for a
future), so a position must be a whole multiple ``m L_i`` of the asset's lot
size ``L_i``.  ``L_i = 0`` leaves that asset fractional (the default for every
asset when no lot size is set).

The rule, applied after the continuous kappa of eq. 2 (:mod:`pyxl.core.ledger.kappa`):

* the executed trade at scale ``k`` is the one that lands the position on the
  nearest whole lot of the scaled target, a tie (exactly half a lot) away from
  zero as Excel's ``ROUND`` does (四捨五入), so a sheet can check a trade with
  ``=ROUND((q + k*dq)/L, 0)*L - q``::

      x_i(k) = L_i * round((q_i + k dq_i) / L_i) - q_i       (L_i > 0)
      x_i(k) = k dq_i                                       (L_i = 0)

  so one scalar still scales the whole proposed trade (the seed's kappa) and the
  lot adjustment comes last, asset by asset;
* ``k`` is the continuous kappa when its rounded trade keeps cash after trade
  and costs ``>= min_cash`` and gross ``<= max_gross x NAV``.  Rounding up a buy
  by half a lot can break a floor that the continuous trade just met; then ``k``
  is bisected between the continuous kappa (infeasible once rounded) and the
  smallest feasible continuous scale (feasible once rounded) down to floating-point
  resolution, and the last feasible point is taken.  Each ``x_i(k)`` is a step
  function of ``k``, monotone but not the cash needed by their sum, so this is the
  edge of a feasible region of scales, not always the largest feasible scale;
* forced deleveraging closes at least the fraction ``delta`` of each position in
  whole lots: the position kept is ``sign(q_i) L_i floor((1 - delta)|q_i| / L_i)``
  (a tolerance of 1e-9 lot absorbs rounding in ``1 - delta``), so a full
  liquidation (``delta = 1``) closes everything;
* the position cap is rounded down to whole lots, so a clipped target stays
  within it after rounding.

Positions stay exact multiples of their lot size up to the rounding of one
product (``L_i * m``): every target is rounded afresh from the position, so no
error builds up over the run.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["half_away", "round_to_lot", "lot_trade", "lot_need", "lot_scale", "lot_delever",
           "LOT_FLOOR_TOL"]

#: Fraction of a lot below which ``(1 - delta)|q| / L`` counts as the next whole lot.
LOT_FLOOR_TOL = 1e-9


@njit(cache=True)
def half_away(x: float) -> float:
    """``x`` rounded to the nearest integer, a tie away from zero (Excel's ``ROUND(x, 0)``).

    ``x - trunc(x)`` is exact in floating point, so the tie test is too (the usual
    ``floor(x + 0.5)`` rounds 0.49999999999999994 up).
    """
    t = np.trunc(x)
    if abs(x - t) >= 0.5:
        t += 1.0 if x > 0.0 else -1.0
    return t


@njit(cache=True)
def round_to_lot(v: float, L: float) -> float:
    """``v`` (shares) on its nearest whole multiple of the lot ``L`` (a tie away from zero,
    as Excel's ``ROUND``); ``v`` itself when ``L == 0``."""
    if L > 0.0:
        return L * half_away(v / L)
    return v


@njit(cache=True)
def lot_trade(q: np.ndarray, dq: np.ndarray, lots: np.ndarray, k: float,
              x: np.ndarray) -> None:
    """Write into ``x`` the whole-lot trade of scale ``k``: ``L round((q + k dq)/L) - q``."""
    for i in range(q.shape[0]):
        L = lots[i]
        if L > 0.0:
            x[i] = round_to_lot(q[i] + k * dq[i], L) - q[i]
        else:
            x[i] = k * dq[i]


@njit(cache=True)
def lot_need(q: np.ndarray, x: np.ndarray, p: np.ndarray, kimp: np.ndarray, s: int,
             use_impact: bool, lin: float, fixed_fee: float) -> tuple[float, float]:
    """Cash the trade ``x`` takes (signed value plus costs, currency) and gross after it.

    ``sum_i p_i x_i + lin sum_i |p_i x_i| + fixed_fee #{x_i != 0} + sum_i k_i p_i x_i^2``
    (eq. 2's ``S + A + F + B`` of the actual trade) and ``sum_i |q_i + x_i| p_i``.
    """
    flow = 0.0
    turn = 0.0
    imp = 0.0
    nnz = 0
    g = 0.0
    for i in range(q.shape[0]):
        xi = x[i]
        v = xi * p[i]
        flow += v
        turn += abs(v)
        nnz += xi != 0.0
        if use_impact:
            imp += kimp[s, i] * p[i] * xi * xi
        g += abs(q[i] + xi) * p[i]
    return flow + lin * turn + fixed_fee * nnz + imp, g


@njit(cache=True)
def _lot_check(q, dq, p, lots, k, x, slack, G, gross_on, kimp, s, use_impact, lin,
               fixed_fee) -> int:
    """0 when the whole-lot trade of scale ``k`` (left in ``x``) is feasible, 1 when it
    breaks the cash floor, 2 when it breaks only the gross cap."""
    lot_trade(q, dq, lots, k, x)
    need, g = lot_need(q, x, p, kimp, s, use_impact, lin, fixed_fee)
    if slack - need < 0.0:
        return 1
    if gross_on and g > G:
        return 2
    return 0


@njit(cache=True)
def lot_scale(q: np.ndarray, dq: np.ndarray, p: np.ndarray, lots: np.ndarray, lo: float,
              hi: float, slack: float, G: float, gross_on: bool, kimp: np.ndarray, s: int,
              use_impact: bool, lin: float, fixed_fee: float,
              x: np.ndarray) -> tuple[float, int]:
    """Scale in ``[lo, hi]`` whose whole-lot trade (left in ``x``) is feasible, and why
    ``hi`` was not (0: it was, 1: cash floor, 2: gross cap).  The scale is -1 if none.

    ``hi`` when its rounded trade keeps ``slack - need >= 0`` and gross ``<= G``;
    else the last feasible point of a bisection between ``lo`` (which must then be
    feasible once rounded, or -1 is returned) and ``hi``.
    """
    why = _lot_check(q, dq, p, lots, hi, x, slack, G, gross_on, kimp, s, use_impact, lin,
                     fixed_fee)
    if why == 0:
        return hi, 0
    if lo >= hi or _lot_check(q, dq, p, lots, lo, x, slack, G, gross_on, kimp, s,
                              use_impact, lin, fixed_fee) != 0:
        return -1.0, why
    a = lo
    b = hi
    for _ in range(200):
        m = 0.5 * (a + b)
        if m == a or m == b:
            break
        if _lot_check(q, dq, p, lots, m, x, slack, G, gross_on, kimp, s, use_impact, lin,
                      fixed_fee) == 0:
            a = m
        else:
            b = m
    lot_trade(q, dq, lots, a, x)
    return a, why


@njit(cache=True)
def lot_delever(q: np.ndarray, lots: np.ndarray, delta: float, x: np.ndarray) -> None:
    """Write into ``x`` the deleveraging trade closing at least ``delta`` of each position
    in whole lots (``-delta q_i`` for an asset without a lot size)."""
    keep = 1.0 - delta
    for i in range(q.shape[0]):
        L = lots[i]
        qi = q[i]
        if L > 0.0:
            m = math.floor(keep * abs(qi) / L + LOT_FLOOR_TOL)
            x[i] = (L * m if qi > 0.0 else -L * m) - qi
        else:
            x[i] = -delta * qi
